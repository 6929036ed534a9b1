// Overview: portfolio equity chart, bot rows and an activity feed kept live by /ws/live.
(function (global) {
  "use strict";
  var A = global.Aitrader;
  var FEED_LIMIT = 40;
  var table = document.getElementById("bots-table");
  var feedList = document.getElementById("activity-feed");
  var chartBox = document.getElementById("portfolio-chart");
  if (!chartBox) { return; }  // no workspace: nothing to show

  // A multi-pair bot is one row; its pairs' bots are named in its data-members.
  function rowOf(botId) {
    return table ? table.querySelector("tr[data-bot-id='" + botId + "'], tr[data-members~='" +
                                       botId + "']") : null;
  }

  function members(row) { return row.dataset.members ? row.dataset.members.split(" ") : null; }

  /** The row's equity after `botId` reported `equity`: a multi-pair row sums its pairs. */
  function rowEquity(row, botId, equity) {
    if (!row.dataset.members) { return equity; }
    var parts = {}, total = 0;
    row.dataset.memberEquity.split(",").forEach(function (part) {
      var pair = part.split(":");
      parts[pair[0]] = pair[1];
    });
    parts[String(botId)] = String(equity);
    row.dataset.memberEquity = Object.keys(parts).map(function (id) {
      total += Number(parts[id]);
      return id + ":" + parts[id];
    }).join(",");
    return total;
  }

  function cell(row, field) { return row.querySelector("[data-field='" + field + "']"); }

  function botName(botId) {
    var row = rowOf(botId);
    return row ? row.dataset.botName : (botId ? "Bot " + botId : "Workspace");
  }

  // --- Portfolio chart -------------------------------------------------------------------
  var portfolio = null;
  function loadPortfolio() {
    if (!A.charts.available()) { return; }
    A.getJSON(chartBox.dataset.url).then(function (series) {
      var points = A.charts.points(series);
      document.querySelector("[data-chart-empty]").hidden = points.length > 0;
      chartBox.hidden = points.length === 0;
      if (!points.length) { return; }
      if (!portfolio) { portfolio = A.charts.line(chartBox); }
      portfolio.series.setData(points);
      portfolio.chart.timeScale().fitContent();
    }).catch(function () { /* the chart stays as it was; the next event retries */ });
  }
  var reloadPortfolio = A.coalesce(loadPortfolio, 3000);

  // --- Bot rows and totals ------------------------------------------------------------------
  function setEquity(row, botId, reported) {
    var equity = rowEquity(row, botId, reported);
    var capital = Number(row.dataset.capital);
    row.dataset.equity = equity;
    cell(row, "equity").textContent = A.format.money(equity);
    A.setPnl(cell(row, "pnl"), Number(equity) - capital);
    updateTotals();
  }

  function updateTotals() {
    if (!table) { return; }
    var equity = 0, capital = 0, running = 0, positions = 0;
    table.querySelectorAll("tbody tr").forEach(function (row) {
      capital += Number(row.dataset.capital);
      equity += Number(row.dataset.equity);
      if (cell(row, "status").classList.contains("running")) { running += 1; }
      // A multi-pair row's position is how many of its pairs hold one.
      if (Number(row.dataset.position) > 0) {
        positions += row.dataset.members ? Number(row.dataset.position) : 1;
      }
    });
    document.querySelector("[data-total='equity']").textContent = A.format.money(equity);
    A.setPnl(document.querySelector("[data-total='pnl']"), equity - capital);
    document.querySelector("[data-total='running']").textContent = running;
    document.querySelector("[data-total='positions']").textContent = positions;
  }

  function setStatus(row, status, reason) {
    var badge = cell(row, "status");
    badge.className = "badge " + status;
    badge.textContent = status.charAt(0).toUpperCase() + status.slice(1);
    var why = cell(row, "reason");
    why.textContent = reason || "";
    why.hidden = !reason;
    updateTotals();
  }

  function setPosition(row, amounts) {
    var target = cell(row, "position");
    var ids = members(row);
    var amount = ids ? ids.filter(function (id) { return Number(amounts[id] || 0) > 0; }).length
      : (amounts[row.dataset.botId] || 0);
    row.dataset.position = amount;
    target.textContent = "";
    if (ids && amount > 0) {
      target.textContent = amount + " of " + ids.length + " pairs open";
    } else if (Number(amount) > 0) {
      target.textContent = A.format.crypto(amount) + " " + row.dataset.base;
    } else {
      target.appendChild(A.el("span", { "class": "muted", text: "flat" }));
    }
  }

  /** Re-read positions, bots and trade counts through REST (after fills and reconnects). */
  function refreshRows() {
    if (!table) { return; }
    A.getJSON("/api/v1/positions/?limit=500").then(function (body) {
      var amounts = {};
      A.rows(body).forEach(function (position) { amounts[position.bot] = position.amount; });
      table.querySelectorAll("tbody tr").forEach(function (row) {
        setPosition(row, amounts);
      });
      updateTotals();
    }).catch(function () {});
    A.getJSON("/api/v1/bots/?limit=500").then(function (body) {
      A.rows(body).forEach(function (bot) {
        var row = rowOf(bot.id);
        if (row) { setStatus(row, bot.status, bot.paused_reason); }
      });
    }).catch(function () {});
    table.querySelectorAll("tbody tr").forEach(function (row) {
      var ids = members(row) || [row.dataset.botId];
      Promise.all(ids.map(function (id) {
        return A.getJSON("/api/v1/trades/?limit=1&bot=" + id);
      })).then(function (bodies) {
        var count = bodies.reduce(function (sum, body) { return sum + (body.count || 0); }, 0);
        cell(row, "trades").textContent = count;
      }).catch(function () {});
    });
  }
  var refreshSoon = A.coalesce(refreshRows, 800);

  // --- Activity feed --------------------------------------------------------------------------
  function addActivity(event, text, css) {
    if (!feedList) { return; }
    var item = A.el("li", { "class": css || "", "data-seq": event.seq }, [
      A.el("time", { datetime: event.ts, text: A.format.clock(event.ts) }), " ",
      A.el("strong", { text: botName(event.bot) }), " ",
      text
    ]);
    feedList.insertBefore(item, feedList.firstChild);
    while (feedList.children.length > FEED_LIMIT) { feedList.removeChild(feedList.lastChild); }
    var empty = document.querySelector("[data-feed-empty]");
    if (empty) { empty.hidden = true; }
  }

  // --- Live feed ------------------------------------------------------------------------------
  var feed = new A.LiveFeed({});
  feed.on("tick", function (event) {
    var row = rowOf(event.bot);
    if (row && event.data.equity !== undefined) { setEquity(row, event.bot, event.data.equity); }
  });
  feed.on("equity", function (event) {
    var row = rowOf(event.bot);
    if (row) { setEquity(row, event.bot, event.data.equity); }
    reloadPortfolio();
  });
  feed.on("status", function (event) {
    var row = rowOf(event.bot);  // a pair's own pause shows on its bot's page, not here
    if (row && row.dataset.botId === String(event.bot)) {
      setStatus(row, event.data.status, event.data.reason);
    }
    addActivity(event, "is " + event.data.status + (event.data.reason ? ": " + event.data.reason : "."), "kind-control");
  });
  feed.on("thought", function (event) {
    addActivity(event, event.data.summary, "kind-" + (event.data.kind || "decision"));
  });
  feed.on("fill", function (event) {
    var side = event.data.side === "buy" ? "Bought " : "Sold ";
    addActivity(event, "Filled: " + side + A.format.crypto(event.data.amount) + " at " +
      A.format.price(event.data.price), "kind-fill side-" + event.data.side);
    refreshSoon();
  });
  feed.on("trade", function () { refreshSoon(); });
  feed.on("alert", function (event) {
    addActivity(event, "Alert: " + (event.data.reason || event.data.kind || "see the bot page"), "kind-breaker");
  });
  feed.on("reconnect", function () { refreshRows(); loadPortfolio(); });

  A.liveFeed = feed;  // one feed per page; tests and the console can reach it
  loadPortfolio();
  updateTotals();
  feed.connect();
})(window);
