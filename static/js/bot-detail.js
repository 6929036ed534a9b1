// Bot page: candle chart with trade marks, live thoughts, status, position, orders, trades.
// The feed is filtered to this bot (?bot=ID); tables re-read through REST after fills.
(function (global) {
  "use strict";
  var A = global.Aitrader;
  var root = document.getElementById("bot");
  if (!root) { return; }
  var botId = root.dataset.botId;
  var capital = Number(root.dataset.capital);
  var THOUGHT_LIMIT = 60;

  function field(name) { return document.querySelector("[data-field='" + name + "']"); }

  // --- Candles ----------------------------------------------------------------------------------
  var chartBox = document.getElementById("candles-chart");
  var chart = null;
  function loadCandles() {
    if (!A.charts.available()) { return; }
    A.getJSON(root.dataset.candlesUrl).then(function (body) {
      var candles = (body.candles || []).map(function (row) {
        return { time: Math.floor(row[0] / 1000), open: row[1], high: row[2], low: row[3], close: row[4] };
      });
      document.querySelector("[data-chart-empty]").hidden = candles.length > 0;
      if (!candles.length) { return; }
      var first = !chart;
      if (first) { chart = A.charts.candles(chartBox); }
      chart.series.setData(candles);
      chart.markers.setMarkers(A.charts.tradeMarkers(body.marks || [], candles.map(function (c) { return c.time; })));
      if (first) { chart.chart.timeScale().fitContent(); }
      var last = candles[candles.length - 1];
      field("close").textContent = A.format.price(last.close);
      field("candle").textContent = "close of the " + A.format.minute(last.time * 1000) + " candle";
    }).catch(function (error) {
      var empty = document.querySelector("[data-chart-empty]");
      empty.textContent = "The chart could not be loaded: " + error.message;
      empty.hidden = false;
    });
  }
  var reloadCandles = A.coalesce(loadCandles, 1000);

  // --- Status and figures -------------------------------------------------------------------------
  function setStatus(status, reason) {
    var badge = field("status");
    badge.className = "badge " + status;
    badge.textContent = status.charAt(0).toUpperCase() + status.slice(1);
    var why = field("reason");
    why.textContent = reason || "";
    why.hidden = !reason;
    var pause = document.querySelector("[data-control='pause']");
    var resume = document.querySelector("[data-control='resume']");
    if (pause) { pause.hidden = status === "paused"; }
    if (resume) { resume.hidden = status === "running"; }
  }

  function setEquity(equity) {
    field("equity").textContent = A.format.money(equity);
    A.setPnl(field("pnl"), Number(equity) - capital);
  }

  // --- Tables, rebuilt from the REST API ------------------------------------------------------------
  function fillTable(id, rows, build) {
    var table = document.getElementById(id);
    var body = table.querySelector("tbody");
    body.textContent = "";
    rows.forEach(function (row) { body.appendChild(build(row)); });
    table.parentNode.querySelector("[data-table-empty]").hidden = rows.length > 0;
  }

  function words(code) { return code ? code.replace(/_/g, " ") : "\u2014"; }

  function td(label, text, css) { return A.el("td", { "data-label": label, "class": css || null, text: text }); }

  function tradeRow(trade) {
    var status = A.el("span", { "class": "badge " + trade.status, text: trade.status === "open" ? "Open" : "Closed" });
    var pnl = td("P&L", A.format.signedMoney(trade.pnl), "num " + A.format.pnlClass(trade.pnl));
    return A.el("tr", {}, [td("Opened", A.format.minute(trade.entry_time)),
      A.el("td", { "data-label": "Status" }, [status]), td("Amount", A.format.crypto(trade.amount), "num"),
      td("Entry", A.format.price(trade.entry_price), "num"), td("Exit", A.format.price(trade.exit_price), "num"),
      pnl, td("Reason", words(trade.exit_reason))]);
  }

  function orderRow(order) {
    var side = A.el("span", { "class": "side-" + order.side, text: order.side === "buy" ? "Buy" : "Sell" });
    var status = A.el("td", { "data-label": "Status", text: order.status === "closed" ? "Filled" : order.status.charAt(0).toUpperCase() + order.status.slice(1) });
    if (order.error) { status.appendChild(A.el("span", { "class": "small error", text: " " + order.error })); }
    // The candle it acted on, on the market's clock like the trades (the wall time it was
    // placed, which a replay runs far from, is the cell's title).
    var candle = td("Candle", A.format.minute(order.candle_ts || order.created_at));
    candle.title = "placed " + A.format.minute(order.created_at) + " UTC";
    return A.el("tr", {}, [candle,
      A.el("td", { "data-label": "Side" }, [side]), td("Amount", A.format.crypto(order.amount), "num"),
      td("Avg price", A.format.price(order.average), "num"), status, td("Reason", words(order.reason)),
      td("Fee", A.format.crypto(order.fee) + " " + (order.fee_currency || ""), "num")]);
  }

  function refreshLedger() {
    A.getJSON(root.dataset.tradesUrl).then(function (body) { fillTable("trades-table", A.rows(body), tradeRow); }).catch(function () {});
    A.getJSON(root.dataset.closedTradesUrl).then(function (body) {
      if (typeof body.count === "number") { field("closed-trades").textContent = body.count; }
    }).catch(function () {});
    A.getJSON(root.dataset.ordersUrl).then(function (body) { fillTable("orders-table", A.rows(body), orderRow); }).catch(function () {});
    A.getJSON(root.dataset.positionsUrl).then(function (body) {
      var position = A.rows(body)[0];
      var open = position && Number(position.amount) > 0;
      field("position").textContent = open ? A.format.crypto(position.amount) + " " + root.dataset.base : "flat";
      field("position-price").textContent = open ? "avg " + A.format.price(position.average_price) : "no open position";
    }).catch(function () {});
  }
  var refreshSoon = A.coalesce(refreshLedger, 600);

  function refreshBot() {
    A.getJSON(root.dataset.botUrl).then(function (bot) { setStatus(bot.status, bot.paused_reason); }).catch(function () {});
  }

  // --- Thoughts --------------------------------------------------------------------------------------
  var thoughts = document.getElementById("thoughts");
  function addThought(ts, kind, summary) {
    var item = A.el("li", { "class": "kind-" + kind }, [
      A.el("time", { datetime: ts, text: A.format.clock(ts) }), " ",
      A.el("span", { "class": "badge kind", text: kind.charAt(0).toUpperCase() + kind.slice(1) }), " ",
      summary]);
    thoughts.insertBefore(item, thoughts.firstChild);
    while (thoughts.children.length > THOUGHT_LIMIT) { thoughts.removeChild(thoughts.lastChild); }
    thoughts.parentNode.querySelector("[data-feed-empty]").hidden = true;
  }

  function reloadThoughts() {
    A.getJSON(root.dataset.thoughtsUrl).then(function (body) {
      thoughts.textContent = "";
      A.rows(body).reverse().forEach(function (row) { addThought(row.created_at, row.kind, row.summary); });
    }).catch(function () {});
  }

  // --- Live feed -----------------------------------------------------------------------------------------
  var feed = new A.LiveFeed({ bot: botId });
  feed.on("tick", function (event) {
    if (event.data.equity !== undefined) { setEquity(event.data.equity); }
    reloadCandles();
  });
  feed.on("equity", function (event) { setEquity(event.data.equity); });
  feed.on("thought", function (event) { addThought(event.ts, event.data.kind || "decision", event.data.summary); });
  feed.on("status", function (event) { setStatus(event.data.status, event.data.reason); });
  feed.on("order", refreshSoon);
  feed.on("fill", refreshSoon);
  feed.on("trade", function () { refreshSoon(); reloadCandles(); });
  feed.on("reconnect", function () { refreshBot(); refreshLedger(); reloadThoughts(); loadCandles(); });

  A.liveFeed = feed;
  loadCandles();
  feed.connect();
})(window);
