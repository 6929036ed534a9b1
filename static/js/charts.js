// Chart factories on lightweight-charts (static/vendor), themed like app.css.
// The library's attribution logo is off because it injects a <style> element, which the
// strict CSP refuses; the pages credit TradingView in text instead (its licence asks for it).
(function (global) {
  "use strict";
  var A = global.Aitrader = global.Aitrader || {};
  var LWC = global.LightweightCharts;
  var GOOD = "#26c281";
  var BAD = "#ef5350";
  var ACCENT = "#4f8cff";
  var SERIES = [ACCENT, "#f5a623", GOOD, "#c678dd", BAD, "#56b6c2"];

  function baseOptions() {
    return {
      autoSize: true,
      layout: { background: { type: "solid", color: "transparent" }, textColor: "#8d96ad",
                fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                attributionLogo: false },
      grid: { vertLines: { color: "#1c2436" }, horzLines: { color: "#1c2436" } },
      rightPriceScale: { borderColor: "#26304a" },
      timeScale: { borderColor: "#26304a", timeVisible: true, secondsVisible: false },
      localization: { priceFormatter: function (value) { return A.format.price(value); } }
    };
  }

  A.charts = {
    available: function () { return !!LWC; },

    /** An area chart of one value over time (equity). */
    line: function (container) {
      var chart = LWC.createChart(container, baseOptions());
      var series = chart.addSeries(LWC.AreaSeries, {
        lineColor: ACCENT, topColor: "rgba(79,140,255,0.35)", bottomColor: "rgba(79,140,255,0.02)",
        lineWidth: 2, priceLineVisible: false });
      return { chart: chart, series: series };
    },

    /** Several titled lines on one chart (runs compared): [{title, points}] as [{time, value}]. */
    lines: function (container, series) {
      var chart = LWC.createChart(container, baseOptions());
      series.forEach(function (line, index) {
        chart.addSeries(LWC.LineSeries, { color: SERIES[index % SERIES.length], lineWidth: 2,
          title: line.title, priceLineVisible: false }).setData(line.points);
      });
      chart.timeScale().fitContent();
      return chart;
    },

    /** A candlestick chart with a markers layer for entries and exits. */
    candles: function (container) {
      var chart = LWC.createChart(container, baseOptions());
      var series = chart.addSeries(LWC.CandlestickSeries, {
        upColor: GOOD, downColor: BAD, borderVisible: false, wickUpColor: GOOD, wickDownColor: BAD });
      var markers = LWC.createSeriesMarkers(series, []);
      return { chart: chart, series: series, markers: markers };
    },

    /** [{time, value}] from [[ms, value], ...] or [{candle_ts, equity}], ascending, unique. */
    points: function (rows) {
      var out = [];
      rows.forEach(function (row) {
        var ms = Array.isArray(row) ? row[0] : row.candle_ts;
        var value = Number(Array.isArray(row) ? row[1] : row.equity);
        var time = Math.floor(ms / 1000);
        if (!isFinite(value)) { return; }
        if (out.length && out[out.length - 1].time >= time) { out[out.length - 1].value = value; return; }
        out.push({ time: time, value: value });
      });
      return out;
    },

    /** Markers for trades: ▲ at each entry, ▼ at each exit, on the candle that holds them. */
    tradeMarkers: function (marks, candleTimes) {
      var markers = [];
      function candleAt(iso) {
        var seconds = Math.floor(new Date(iso).getTime() / 1000);
        var low = 0, high = candleTimes.length - 1, found = null;
        while (low <= high) {  // the last candle opening at or before the moment
          var middle = (low + high) >> 1;
          if (candleTimes[middle] <= seconds) { found = candleTimes[middle]; low = middle + 1; }
          else { high = middle - 1; }
        }
        return found;
      }
      marks.forEach(function (mark) {
        var entry = mark.entry_time && candleAt(mark.entry_time);
        if (entry) {
          markers.push({ time: entry, position: "belowBar", color: GOOD, shape: "arrowUp",
                         text: "Buy" });
        }
        var exit = mark.exit_time && candleAt(mark.exit_time);
        if (exit) {
          markers.push({ time: exit, position: "aboveBar", color: BAD, shape: "arrowDown",
                         text: A.format.signedMoney(mark.pnl) });
        }
      });
      markers.sort(function (a, b) { return a.time - b.time; });
      return markers;
    }
  };
})(window);
