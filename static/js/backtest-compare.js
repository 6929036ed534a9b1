// Backtests compared: every run's equity curve, as its return from the starting cash, on one
// chart. The numbers come from the page's JSON block (the CSP allows no inline script).
(function (global) {
  "use strict";
  var A = global.Aitrader;
  var box = document.getElementById("compare-chart");
  var runs = A.jsonData("compare-data") || [];
  if (!box || !runs.length || !A.charts.available()) { return; }
  A.charts.lines(box, runs.map(function (run) {
    return { title: "#" + run.id, points: A.charts.points(run.points) };
  }));
})(window);
