// Backtest page: a progress bar fed by the live feed's "backtest" events, with polling as a
// fallback (a blocked WebSocket or a missed event must not leave it stuck); the report is
// rendered by the server, so the page reloads once the run has finished.
(function (global) {
  "use strict";
  var A = global.Aitrader;
  var root = document.getElementById("backtest");
  if (!root) { return; }
  var runId = Number(root.dataset.runId);
  var POLL_MS = 2000;

  function drawEquity() {
    var box = document.getElementById("equity-chart");
    var points = A.jsonData("equity-data") || [];
    if (!box || !points.length || !A.charts.available()) { return; }
    var chart = A.charts.line(box);
    chart.series.setData(A.charts.points(points));
    chart.chart.timeScale().fitContent();
  }

  function showProgress(status, progress) {
    var badge = document.querySelector("[data-field='status']");
    if (badge && status === "running" && root.dataset.status !== "running") {
      root.dataset.status = "running";  // queued until a background worker takes it
      badge.className = "badge bt-running";
      badge.textContent = "Running";
      document.querySelector("[data-field='progress-title']").textContent = "Running\u2026";
    }
    var bar = document.querySelector("[data-field='progress']");
    if (bar && typeof progress === "number") {
      bar.value = progress;
      document.querySelector("[data-field='progress-text']").textContent = progress + " %";
    }
    if (status === "done" || status === "failed") { global.location.reload(); }
  }

  function watch() {
    var feed = new A.LiveFeed({});
    feed.on("backtest", function (event) {
      if (event.data && event.data.id === runId) { showProgress(event.data.status, event.data.progress); }
    });
    feed.connect();
    function poll() {
      A.getJSON(root.dataset.url).then(function (run) {
        showProgress(run.status, run.progress);
      }).catch(function () {}).then(function () { global.setTimeout(poll, POLL_MS); });
    }
    global.setTimeout(poll, POLL_MS);
  }

  if (root.dataset.status === "queued" || root.dataset.status === "running") { watch(); }
  else { drawEquity(); }
})(window);
