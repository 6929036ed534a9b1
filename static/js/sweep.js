// A sweep's page: live progress while it works (Aitrader.watchJob); the results are rendered
// by the server. (The form's strategy chooser is app.js's select.autosubmit.)
(function (global) {
  "use strict";
  var root = document.getElementById("sweep");
  var A = global.Aitrader;
  if (!root || !A) { return; }
  if (A.jobUnfinished(root)) { A.watchJob(root, "sweep", Number(root.dataset.sweepId)); }
})(window);
