// Shared by the dashboard pages: number formats, JSON reads of the API, safe DOM building.
// Formats follow dashboard/templatetags/money.py, so live-updated figures look like the
// server-rendered ones. No inline handlers or HTML strings: the CSP forbids the former and
// building from textContent keeps data from becoming markup.
(function (global) {
  "use strict";
  var A = global.Aitrader = global.Aitrader || {};
  var MINUS = "\u2212";
  var DASH = "\u2014";

  function toNumber(value) {
    if (value === null || value === undefined || value === "") { return null; }
    var number = Number(value);
    return isFinite(number) ? number : null;
  }

  function grouped(number, places) {
    var text = Math.abs(number).toLocaleString("en-US", {
      minimumFractionDigits: places, maximumFractionDigits: places });
    return number < 0 && /[1-9]/.test(text) ? MINUS + text : text;
  }

  A.format = {
    /** Quote-currency money: 2 places, thousands grouped. */
    money: function (value) {
      var n = toNumber(value);
      return n === null ? DASH : grouped(n, 2);
    },
    /** P&L with its sign. */
    signedMoney: function (value) {
      var n = toNumber(value);
      if (n === null) { return DASH; }
      var text = grouped(n, 2);
      return n > 0 && /[1-9]/.test(text) ? "+" + text : text;
    },
    /** Crypto amounts: up to 8 places, trailing zeros dropped. */
    crypto: function (value) {
      var n = toNumber(value);
      if (n === null) { return DASH; }
      var text = grouped(n, 8);
      if (text.indexOf(".") >= 0) { text = text.replace(/0+$/, "").replace(/\.$/, ""); }
      return text === "" || text === MINUS ? "0" : text;
    },
    /** A market price: 2 places from 1 up, crypto precision below. */
    price: function (value) {
      var n = toNumber(value);
      if (n === null) { return DASH; }
      return Math.abs(n) >= 1 ? grouped(n, 2) : A.format.crypto(n);
    },
    percent: function (value, places) {
      var n = toNumber(value);
      return n === null ? DASH : grouped(n, places === undefined ? 2 : places) + " %";
    },
    pnlClass: function (value) {
      var n = toNumber(value);
      return n === null || n === 0 ? "" : (n > 0 ? "pos" : "neg");
    },
    /** "HH:MM:SS" in UTC (the server renders UTC too) from ms, seconds or an ISO string. */
    clock: function (value) {
      var date = typeof value === "number" ? new Date(value) : new Date(value || Date.now());
      return isNaN(date.getTime()) ? "" : date.toISOString().slice(11, 19);
    },
    /** "YYYY-MM-DD HH:MM" in UTC. */
    minute: function (value) {
      var date = typeof value === "number" ? new Date(value) : new Date(value);
      return isNaN(date.getTime()) ? DASH : date.toISOString().slice(0, 16).replace("T", " ");
    },
    number: toNumber
  };

  /** GET a JSON document of the API with the session cookie; rejects with a readable Error. */
  A.getJSON = function (url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) {
            var message = body && body.error && body.error.message;
            throw new Error(message || "The server answered " + response.status + ".");
          }
          return body;
        });
      });
  };

  /** The rows of a paginated list response (or the response itself when it is a list). */
  A.rows = function (body) { return Array.isArray(body) ? body : (body.results || []); };

  /** An element with attributes and children (strings become text nodes, never HTML). */
  A.el = function (tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attributes[name]; }
      else if (attributes[name] !== null && attributes[name] !== undefined) {
        node.setAttribute(name, attributes[name]);
      }
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  };

  /** Run `fn` once, `wait` ms after the first call of a burst; calls in between join it.
   *  Events arrive in bursts and in steady streams; either way the page re-reads at most
   *  once per `wait` ms (a debounce would starve under a steady stream). */
  A.coalesce = function (fn, wait) {
    var timer = null;
    return function () {
      if (timer) { return; }
      timer = setTimeout(function () { timer = null; fn(); }, wait);
    };
  };

  /** Read a json_script block by id (null when the page has none). */
  A.jsonData = function (id) {
    var node = document.getElementById(id);
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (error) { return null; }
  };

  /** Set a P&L element's text and its pos/neg colour together. */
  A.setPnl = function (node, value) {
    if (!node) { return; }
    node.textContent = A.format.signedMoney(value);
    node.classList.remove("pos", "neg");
    var css = A.format.pnlClass(value);
    if (css) { node.classList.add(css); }
  };
})(window);
