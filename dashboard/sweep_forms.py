"""The parameter-sweep form: market, settings and, per declared parameter, a range or a value.

The inputs of a strategy's parameters are built from its declared parameters (server-side:
the page reloads with `?strategy=` to change them). A number takes a range (from, to, step) or
a fixed value; a true/false or choice parameter takes its values separated by commas, one value
fixing it. The service checks everything against the bounds in
trading.core.backtest.walk_forward and the parameters' declared ranges.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from aitrader.errors import ServiceError
from dashboard.forms import BacktestSettingsForm
from trading.core.backtest import walk_forward
from trading.core.strategies import STRATEGIES
from trading.core.strategies.base import Param, Strategy

DEFAULT_STRATEGY = "sma_cross"
NUMBER_TYPES = ("int", "float")
RANGE_PARTS = ("from", "to", "step")


def sweepable_choices() -> list[tuple[str, str]]:
    """The strategies a sweep can run, by key."""
    return [(key, STRATEGIES[key].name) for key in sorted(STRATEGIES)
            if key not in walk_forward.NOT_SWEEPABLE]


def chosen_strategy(raw: str | None) -> type[Strategy]:
    """The strategy whose parameter inputs the form shows (the default for an unknown key;
    the strategy field itself reports the unknown key)."""
    keys = dict(sweepable_choices())
    return STRATEGIES[raw if raw in keys else DEFAULT_STRATEGY]


def input_name(param: Param, part: str) -> str:
    """The input of one part of a parameter: `fast__from`, `fast__fixed`, `mode__values`."""
    return f"{param.name}__{part}"


class SweepForm(BacktestSettingsForm):
    """A sweep over a market's data set and range, with a backtest's money and frictions."""

    # Chosen above the form (its parameters' inputs depend on it), carried here hidden.
    strategy = forms.ChoiceField(choices=sweepable_choices, initial=DEFAULT_STRATEGY,
                                 widget=forms.HiddenInput)
    out_of_sample_pct = forms.IntegerField(
        min_value=walk_forward.OUT_OF_SAMPLE_PCT_MIN,
        max_value=walk_forward.OUT_OF_SAMPLE_PCT_MAX,
        initial=walk_forward.OUT_OF_SAMPLE_PCT_DEFAULT, label="Out-of-sample share (%)",
        help_text=(f"The last {walk_forward.OUT_OF_SAMPLE_PCT_MIN}–"
                   f"{walk_forward.OUT_OF_SAMPLE_PCT_MAX} % of the candles: the ranking never "
                   "sees them, each row shows its figures there too."))

    def __init__(self, data=None, *, strategy: type[Strategy],
                 markets: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(data, initial={"strategy": strategy.key}, markets=markets)
        self.strategy_class = strategy
        for param in strategy.params:
            if param.type in NUMBER_TYPES:
                for part in RANGE_PARTS:
                    self.fields[input_name(param, part)] = _text(param, part.capitalize())
                self.fields[input_name(param, "fixed")] = _text(param, "Or fixed at",
                                                                initial=param.default)
            else:
                self.fields[input_name(param, "values")] = _text(
                    param, "Values", initial=_word(param.default),
                    help_text=_choices_help(param))

    def parameter_rows(self) -> list[dict[str, Any]]:
        """Per declared parameter, its bound inputs, for the template."""
        return [{"param": param, "number": param.type in NUMBER_TYPES,
                 "inputs": [self[input_name(param, part)] for part in
                            ((*RANGE_PARTS, "fixed") if param.type in NUMBER_TYPES
                             else ("values",))]}
                for param in self.strategy_class.params]

    def sweep_arguments(self) -> dict[str, Any]:
        """What `sweep_create` takes besides tenant and actor (after is_valid)."""
        data = self.cleaned_data
        grid, fixed = self._grid_and_fixed()
        return {"strategy": data["strategy"], "symbol": data["symbol"],
                "timeframe": data["timeframe"], "config": self.config(), "grid": grid,
                "parameters": fixed, "out_of_sample_pct": data["out_of_sample_pct"]}

    def _grid_and_fixed(self) -> tuple[dict[str, Any], dict[str, Any]]:
        grid: dict[str, Any] = {}
        fixed: dict[str, Any] = {}
        for param in self.strategy_class.params:
            if param.type in NUMBER_TYPES:
                low, high, step, value = (self._value(param, part)
                                          for part in (*RANGE_PARTS, "fixed"))
                if low is not None or high is not None:
                    grid[param.name] = {"min": low, "max": high,
                                        **({"step": step} if step is not None else {})}
                elif value is not None:
                    fixed[param.name] = value
            else:
                words = [word.strip() for word in (self._value(param, "values") or "")
                         .split(",") if word.strip()]
                if len(words) > 1:
                    grid[param.name] = words
                elif words:
                    fixed[param.name] = words[0]
        return grid, fixed

    def _value(self, param: Param, part: str) -> str | None:
        raw = (self.cleaned_data.get(input_name(param, part)) or "").strip()
        return raw or None

    def add_service_error(self, exc: ServiceError) -> None:
        """Show a service refusal next to the input it names (a parameter's range or value),
        else above the form (the grid as a whole, the date range)."""
        field = self.SERVICE_FIELDS.get(exc.field, exc.field)
        field = field if field in self.fields else None
        param = next((p for p in self.strategy_class.params if p.name == exc.field), None)
        if param is not None:
            swept = param.type in NUMBER_TYPES and any(
                self._value(param, part) is not None for part in ("from", "to"))
            part = ("from" if swept else "fixed") if param.type in NUMBER_TYPES else "values"
            field = input_name(param, part)
        self.add_error(field, exc.message)


def _text(param: Param, label: str, *, initial: Any = None, help_text: str = "") -> forms.Field:
    attrs = {"inputmode": "decimal", "autocomplete": "off"} if param.type in NUMBER_TYPES else {}
    return forms.CharField(required=False, max_length=200, label=label, initial=initial,
                           help_text=help_text, widget=forms.TextInput(attrs=attrs))


def _word(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _choices_help(param: Param) -> str:
    options = param.choices if param.type == "choice" else ("true", "false")
    return "Comma-separated, from: " + ", ".join(options) + "."
