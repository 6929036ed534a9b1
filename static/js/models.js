// ML models page: a model in training shows its epochs as the live feed's "training" events
// arrive (it trains in the background); once it is ready or failed the page reloads, so the
// server renders its metrics and buttons.
(function (global) {
  "use strict";
  var A = global.Aitrader;
  var table = document.getElementById("models-table");
  if (!table || !table.querySelector("tr[data-status='training']")) { return; }

  function row(modelId) {
    return table.querySelector("tr[data-model-id='" + Number(modelId) + "']");
  }

  function show(data) {
    var training = row(data.model_id);
    if (!training || training.dataset.status !== "training") { return; }
    if (data.status && data.status !== "training") { global.location.reload(); return; }
    if (data.event === "epoch" && data.epoch) {
      training.querySelector("[data-field='trained']").textContent =
        "epoch " + data.epoch + " of " + data.epochs;
    }
  }

  var feed = new A.LiveFeed({});
  feed.on("training", function (event) { if (event.data) { show(event.data); } });
  // After a reconnect the events in between may be lost: the page is the truth, reload it.
  feed.on("reconnect", function () { global.location.reload(); });
  feed.connect();
})(window);
