// Sweep pages. The form: choosing a strategy reloads the page with its parameters' inputs.
// A sweep's page: live progress while it works (Aitrader.watchJob); the results are rendered
// by the server.
(function (global) {
  "use strict";
  var chooser = document.querySelector("#sweep-strategy [data-autosubmit]");
  if (chooser) {
    chooser.addEventListener("change", function () { chooser.form.submit(); });
  }

  var root = document.getElementById("sweep");
  var A = global.Aitrader;
  if (!root || !A) { return; }
  if (A.jobUnfinished(root)) { A.watchJob(root, "sweep", Number(root.dataset.sweepId)); }
})(window);
