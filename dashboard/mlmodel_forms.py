"""The Models page's Train form. It parses input; the training service applies the rules.

Its choices and bounds are the training options' own (mlmodels.options), so the page, the
API and the CLI refuse the same numbers; the service validates everything again.
"""
from __future__ import annotations

from typing import Any

from django import forms

from dashboard.forms import BACKTEST_TIMEFRAMES, SYMBOLS
from mlmodels.features import DEFAULT_FEATURE_SET, FEATURE_SETS
from mlmodels.options import ARCHITECTURES, BOUNDS, LABEL_KINDS, TrainingOptions

_DEFAULTS = TrainingOptions()


def _bounded(name: str, **kwargs: Any) -> forms.IntegerField:
    low, high = BOUNDS[name]
    return forms.IntegerField(min_value=low, max_value=high,
                              help_text=f"From {low} to {high}.", **kwargs)


class TrainModelForm(forms.Form):
    """A new model version trained on the stored history of a market."""

    symbol = forms.ChoiceField(choices=[(s, s) for s in SYMBOLS], initial="BTC/USDT",
                               label="Market")
    timeframe = forms.ChoiceField(choices=[(t, t) for t in BACKTEST_TIMEFRAMES], initial="1h",
                                  label="Candle")
    architecture = forms.ChoiceField(choices=[(a, a.upper()) for a in ARCHITECTURES],
                                     initial=_DEFAULTS.architecture, label="Network")
    feature_set = forms.ChoiceField(choices=[(key, key) for key in sorted(FEATURE_SETS)],
                                    initial=DEFAULT_FEATURE_SET, label="Features",
                                    help_text=FEATURE_SETS[DEFAULT_FEATURE_SET].description)
    label_kind = forms.ChoiceField(choices=[(kind, kind.capitalize()) for kind in LABEL_KINDS],
                                   initial=_DEFAULTS.label.kind, label="Predicts",
                                   help_text="Up / flat / down classes, or the return itself.")
    horizon = _bounded("horizon", initial=_DEFAULTS.label.horizon,
                       label="Horizon (candles ahead)")
    epochs = _bounded("epochs", initial=_DEFAULTS.epochs, label="Most epochs")

    def training_request(self) -> dict[str, Any]:
        """The keyword arguments of `mlmodel_train_stored`."""
        data = self.cleaned_data
        return {"symbol": data["symbol"], "timeframe": data["timeframe"],
                "options": {"architecture": data["architecture"],
                            "feature_set": data["feature_set"], "epochs": data["epochs"],
                            "label": {"kind": data["label_kind"], "horizon": data["horizon"]}}}
