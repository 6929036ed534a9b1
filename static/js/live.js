// The /ws/live client: one socket per page, reconnecting with backoff.
//
// Events read {"type", "ts", "bot", "data", "seq"}. Unknown types are passed on and ignored
// by pages that do not know them. The server's heartbeat pings need no answer. After any
// reconnect the page re-reads its state through the REST API ("reconnect" handlers): the feed
// is a convenience, REST is the truth. The socket resumes from the last `seq` it saw, so a
// short drop usually loses nothing even before the re-read.
(function (global) {
  "use strict";
  var A = global.Aitrader = global.Aitrader || {};

  var MAX_DELAY_MS = 30000;
  // Close codes of dashboard/consumers.py: signed out (or key revoked, member removed),
  // forbidden, no such bot: stop; too many: retry slowly; role changed (4409) and anything
  // else: reconnect with backoff.
  var CLOSE_UNAUTHENTICATED = 4401;
  var CLOSE_FORBIDDEN = 4403;
  var CLOSE_NOT_FOUND = 4404;
  var CLOSE_TOO_MANY = 4429;
  var LABELS = { connecting: "Connecting\u2026", live: "Live", reconnecting: "Reconnecting\u2026",
                 offline: "Live updates off" };

  function LiveFeed(options) {
    this.bot = (options && options.bot) || null;
    this.handlers = {};
    this.seq = null;
    this.attempt = 0;
    this.everOpened = false;
    this.stopped = false;
    this.socket = null;
    this.indicator = document.querySelector("[data-live-status]");
  }

  /** Register `fn(event)` for an event type; "*" gets every event, "reconnect" gets none. */
  LiveFeed.prototype.on = function (type, fn) {
    (this.handlers[type] = this.handlers[type] || []).push(fn);
    return this;
  };

  LiveFeed.prototype.emit = function (type, event) {
    (this.handlers[type] || []).concat(this.handlers["*"] || []).forEach(function (fn) {
      try { fn(event); } catch (error) { if (global.console) { console.error(error); } }
    });
  };

  LiveFeed.prototype.url = function () {
    var scheme = global.location.protocol === "https:" ? "wss://" : "ws://";
    var query = [];
    if (this.bot) { query.push("bot=" + encodeURIComponent(this.bot)); }
    if (this.seq !== null) { query.push("since=" + encodeURIComponent(this.seq)); }
    return scheme + global.location.host + "/ws/live" + (query.length ? "?" + query.join("&") : "");
  };

  LiveFeed.prototype.setState = function (state, detail) {
    if (!this.indicator) { return; }
    this.indicator.dataset.state = state;
    this.indicator.textContent = detail || LABELS[state] || state;
  };

  LiveFeed.prototype.connect = function () {
    var feed = this;
    if (feed.stopped || !("WebSocket" in global)) { feed.setState("offline"); return feed; }
    feed.setState(feed.everOpened ? "reconnecting" : "connecting");
    var socket;
    try { socket = new WebSocket(feed.url()); } catch (error) { feed.retry(); return feed; }
    feed.socket = socket;
    socket.addEventListener("open", function () {
      var reconnected = feed.everOpened;
      feed.everOpened = true;
      feed.attempt = 0;
      feed.setState("live");
      if (reconnected) { feed.emit("reconnect", null); }
    });
    socket.addEventListener("message", function (message) { feed.receive(message.data); });
    socket.addEventListener("close", function (event) { feed.closed(event.code); });
    return feed;
  };

  LiveFeed.prototype.receive = function (raw) {
    var event;
    try { event = JSON.parse(raw); } catch (error) { return; }
    if (!event || typeof event.type !== "string") { return; }
    if (typeof event.seq === "number" && (this.seq === null || event.seq > this.seq)) {
      this.seq = event.seq;
    }
    if (event.type === "ping" || event.type === "pong") { return; }  // heartbeats only
    if (event.type === "resync") { this.emit("reconnect", event); return; }
    this.emit(event.type, event);
  };

  LiveFeed.prototype.closed = function (code) {
    this.socket = null;
    if (this.stopped) { return; }
    if (code === CLOSE_UNAUTHENTICATED) {
      this.stopped = true;
      this.setState("offline", "Signed out \u2014 reload to sign in");
      return;
    }
    if (code === CLOSE_FORBIDDEN || code === CLOSE_NOT_FOUND) {
      this.stopped = true;
      this.setState("offline");
      return;
    }
    this.retry(code === CLOSE_TOO_MANY ? 4 : 0);
  };

  /** Exponential backoff with jitter, so a restarted server is not hit by every tab at once. */
  LiveFeed.prototype.retry = function (extraSteps) {
    var feed = this;
    feed.attempt += 1 + (extraSteps || 0);
    var ceiling = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, feed.attempt - 1));
    var delay = ceiling / 2 + Math.random() * ceiling / 2;
    feed.setState("reconnecting");
    global.setTimeout(function () { feed.connect(); }, delay);
  };

  LiveFeed.prototype.stop = function () {
    this.stopped = true;
    if (this.socket) { this.socket.close(); }
  };

  A.LiveFeed = LiveFeed;

  // A background job's page (a backtest, a sweep): its status badge and progress bar follow
  // the live feed's `eventName` events for the job, with polling of `root.dataset.url` as a
  // fallback (a blocked WebSocket or a missed event must not leave it stuck); the result is
  // rendered by the server, so the page reloads once the job has finished.
  var JOB_POLL_MS = 2000;

  function showJobProgress(root, status, progress) {
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

  A.watchJob = function (root, eventName, jobId) {
    var feed = new LiveFeed({});
    feed.on(eventName, function (event) {
      if (event.data && event.data.id === jobId) {
        showJobProgress(root, event.data.status, event.data.progress);
      }
    });
    feed.connect();
    function poll() {
      A.getJSON(root.dataset.url).then(function (job) {
        showJobProgress(root, job.status, job.progress);
      }).catch(function () {}).then(function () { global.setTimeout(poll, JOB_POLL_MS); });
    }
    global.setTimeout(poll, JOB_POLL_MS);
  };

  A.jobUnfinished = function (root) {
    return root.dataset.status === "queued" || root.dataset.status === "running";
  };
})(window);
