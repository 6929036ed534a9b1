// ML models page: a model in training shows its epochs as the live feed's "training" events
// arrive (it trains in the background); once it is ready or failed the page reloads, so the
// server renders its metrics and buttons.
(function (global) {
  "use strict";
  var A = global.Aitrader;
  // The model card (?model=<id>) has a progress bar fed by the same events.
  var table = document.getElementById("models-table");
  if (!table || !table.querySelector("tr[data-status='training']")) { return; }

  function row(modelId) {
    return table.querySelector("tr[data-model-id='" + Number(modelId) + "']");
  }

  function showOnCard(data) {
    var card = document.querySelector("[data-training-card][data-model-id='" + Number(data.model_id) + "']");
    if (!card || card.dataset.status !== "training") { return; }
    var bar = card.querySelector("[data-field='progress']");
    bar.max = data.epochs;
    bar.value = data.epoch;
    card.querySelector("[data-field='progress-text']").textContent =
      (data.fold ? "walk-forward fold " + data.fold + " of " + data.folds + ": " : "") +
      "epoch " + data.epoch + " of " + data.epochs;
  }

  function show(data) {
    var training = row(data.model_id);
    if (!training || training.dataset.status !== "training") { return; }
    if (data.status && data.status !== "training") { global.location.reload(); return; }
    if (data.event === "epoch" && data.epoch) {
      training.querySelector("[data-field='trained']").textContent =
        "epoch " + data.epoch + " of " + data.epochs;
      showOnCard(data);
    }
  }

  var feed = new A.LiveFeed({});
  feed.on("training", function (event) { if (event.data) { show(event.data); } });
  // After a reconnect the events in between may be lost: the page is the truth, reload it.
  feed.on("reconnect", function () { global.location.reload(); });
  feed.connect();

  // A training that ended before the socket opened (or behind a blocked WebSocket) sends no
  // more events: polling its REST resource catches that.
  var POLL_MS = 3000;
  function poll() {
    var rows = table.querySelectorAll("tr[data-status='training'][data-url]");
    var checks = Array.prototype.map.call(rows, function (training) {
      return A.getJSON(training.dataset.url).then(function (model) {
        if (model.status !== "training") { global.location.reload(); }
      }).catch(function () {});
    });
    Promise.all(checks).then(function () { global.setTimeout(poll, POLL_MS); });
  }
  global.setTimeout(poll, POLL_MS);
})(window);
