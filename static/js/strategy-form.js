// Builds a strategy's parameter inputs from its declared schema (GET /api/v1/strategies/
// describes the same; the page embeds it as json_script "strategies-data").
//
// Each input is named param_<name>, which dashboard/forms.py::strategy_parameters collects.
// The server validates every value again; min/max here only help the person typing.
(function (global) {
  "use strict";
  var A = global.Aitrader = global.Aitrader || {};

  function label(name) {
    var text = name.replace(/_pct$/, " %").replace(/_/g, " ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function inputFor(param, value) {
    var name = "param_" + param.name;
    var id = "id_param_" + param.name;
    if (param.type === "bool") {
      var box = A.el("input", { type: "checkbox", name: name, id: id });
      box.checked = value === true || value === "true";
      return box;
    }
    if (param.type === "choice") {
      var select = A.el("select", { name: name, id: id });
      param.choices.forEach(function (choice) {
        var option = A.el("option", { value: choice, text: label(choice) });
        option.selected = String(value) === choice;
        select.appendChild(option);
      });
      return select;
    }
    var input = A.el("input", {
      type: "number", name: name, id: id, inputmode: param.type === "int" ? "numeric" : "decimal",
      step: param.type === "int" ? "1" : "any",
      min: param.minimum === null ? null : param.minimum,
      max: param.maximum === null ? null : param.maximum });
    input.value = value === null || value === undefined ? "" : value;
    return input;
  }

  function fieldFor(param, value) {
    var hint = [];
    if (param.minimum !== null && param.maximum !== null) { hint.push(param.minimum + " to " + param.maximum); }
    else if (param.minimum !== null) { hint.push("at least " + param.minimum); }
    hint.push("default " + param.default);
    return A.el("label", { "class": "field", "for": "id_param_" + param.name }, [
      A.el("span", { text: label(param.name) }),
      inputFor(param, value),
      A.el("small", { "class": "muted", text: (param.description ? param.description + " \u00b7 " : "") + hint.join(", ") })
    ]);
  }

  function presetSummary(preset) {
    if (!preset) { return "No risk preset: the whole equity per trade and no stops, to measure the strategy alone."; }
    function pct(value) { return value === null ? "off" : value + " %"; }
    return "Stakes " + Math.round(preset.stake_fraction * 100) + " % of equity per position \u00b7 stop loss " +
      pct(preset.stop_loss_pct) + " \u00b7 take profit " + pct(preset.take_profit_pct) +
      " \u00b7 pauses at " + pct(preset.max_drawdown_pct) + " drawdown.";
  }

  function wire(form, strategies, presets, submitted) {
    var select = form.querySelector("select[name=strategy]");
    var presetSelect = form.querySelector("select[name=preset]");
    var holder = form.querySelector("[data-params]");
    var description = form.querySelector("[data-strategy-description]");
    var summary = form.querySelector("[data-preset-summary]");
    var byKey = {};
    strategies.forEach(function (strategy) { byKey[strategy.key] = strategy; });
    var first = true;

    function render() {
      var strategy = byKey[select.value];
      Array.prototype.slice.call(holder.querySelectorAll(".field, .empty-params")).forEach(function (node) { node.remove(); });
      if (!strategy) { return; }
      var values = first ? submitted : {};  // a re-shown form keeps what was typed
      first = false;
      if (description) { description.textContent = strategy.description; }
      if (!strategy.params.length) {
        holder.appendChild(A.el("p", { "class": "empty-params small muted", text: "This strategy takes no parameters." }));
      }
      strategy.params.forEach(function (param) {
        var value = Object.prototype.hasOwnProperty.call(values, param.name) ? values[param.name] : param.default;
        holder.appendChild(fieldFor(param, value));
      });
    }

    function renderPreset() {
      if (summary && presetSelect) { summary.textContent = presetSummary(presets[presetSelect.value]); }
    }

    select.addEventListener("change", render);
    if (presetSelect) { presetSelect.addEventListener("change", renderPreset); }
    render();
    renderPreset();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var strategies = A.jsonData("strategies-data") || [];
    var presets = A.jsonData("presets-data") || {};
    var submitted = A.jsonData("submitted-params") || {};
    document.querySelectorAll("form[data-strategy-form]").forEach(function (form) {
      wire(form, strategies, presets, submitted);
    });
  });
})(window);
