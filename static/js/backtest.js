// Backtest page: live progress while the run works (Aitrader.watchJob), then its equity and
// candle charts.
(function (global) {
  "use strict";
  var A = global.Aitrader;
  var root = document.getElementById("backtest");
  if (!root) { return; }
  var runId = Number(root.dataset.runId);

  function drawEquity() {
    var box = document.getElementById("equity-chart");
    var points = A.jsonData("equity-data") || [];
    if (!box || !points.length || !A.charts.available()) { return; }
    var chart = A.charts.line(box);
    chart.series.setData(A.charts.points(points));
    chart.chart.timeScale().fitContent();
  }

  // The run's candles with its trades marked, as the bot page draws them.
  function drawCandles() {
    var box = document.getElementById("candles-chart");
    var data = A.jsonData("candles-data");
    if (!box || !data || !data.candles.length || !A.charts.available()) { return; }
    var candles = data.candles.map(function (row) {
      return { time: Math.floor(row[0] / 1000), open: row[1], high: row[2], low: row[3], close: row[4] };
    });
    var chart = A.charts.candles(box);
    chart.series.setData(candles);
    chart.markers.setMarkers(A.charts.tradeMarkers(data.marks || [], candles.map(function (c) { return c.time; })));
    chart.chart.timeScale().fitContent();
  }

  if (A.jobUnfinished(root)) { A.watchJob(root, "backtest", runId); }
  else { drawEquity(); drawCandles(); }
})(window);
