"""python manage.py train_model --tenant SLUG --symbol BTC/USDT --timeframe 1h --data PATH.csv \
    [--model mlp|lstm|gru] [--epochs N] [--seed S] [--label classification|regression] \
    [--horizon H] [--walk-forward K] [--promote] [--json]

Trains one model version for the tenant now (in a subprocess, like the Celery task) and prints
its registry entry: a summary, or with --json one object with model_id, version, metrics,
splits and normalization. Bad input prints one line on stderr and exits 2; a training that
fails prints its reason on stderr and exits 1.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ServiceError
from mlmodels.models import MLModel
from mlmodels.options import ARCHITECTURES
from mlmodels.services import mlmodel_promote, mlmodel_run_training, mlmodel_train
from tenants.actors import Actor
from tenants.selectors import tenant_get_by_slug
from trading.core.candles import CandleFileError, load_csv

USAGE_ERROR, TRAINING_FAILED = 2, 1


class Command(BaseCommand):
    help = "Train an ML model for a tenant on a candle CSV and register it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--symbol", required=True, help="Market, e.g. BTC/USDT.")
        parser.add_argument("--timeframe", required=True, help="Candle timeframe, e.g. 1h.")
        parser.add_argument("--data", required=True, metavar="PATH.csv",
                            help="Candles: timestamp,open,high,low,close,volume.")
        parser.add_argument("--model", choices=ARCHITECTURES, default="mlp",
                            help="Network: mlp (default), lstm or gru.")
        parser.add_argument("--epochs", type=int, default=50, help="Most epochs (early "
                            "stopping on validation usually ends sooner).")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, "
                            "same model).")
        parser.add_argument("--label", choices=("classification", "regression"),
                            default="classification", help="up/down/flat classes, or the "
                            "forward return.")
        parser.add_argument("--horizon", type=int, default=4,
                            help="Label horizon in candles.")
        parser.add_argument("--walk-forward", type=int, default=0, metavar="K",
                            help="Also evaluate K expanding walk-forward folds.")
        parser.add_argument("--promote", action="store_true",
                            help="Make the model active for its market when training succeeds.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            candles = load_csv(options["data"])  # the file first: it needs no database
        except CandleFileError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        tenant = tenant_get_by_slug(slug=options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.",
                               returncode=USAGE_ERROR)
        actor = Actor.system(tenant, via="cli")
        try:
            model = mlmodel_train(
                tenant=tenant, actor=actor, symbol=options["symbol"],
                timeframe=options["timeframe"], candles=candles, queue=False,
                options=self._training_options(options),
                data_source=str(Path(options["data"]).resolve()),
                walk_forward_folds=options["walk_forward"])
        except ServiceError as exc:
            raise CommandError(exc.message, returncode=USAGE_ERROR) from None
        model = mlmodel_run_training(tenant_id=tenant.pk, model_id=model.pk,
                                     on_progress=None if options["json"] else self._progress)
        if model.status == MLModel.Status.FAILED:
            raise CommandError(f"Training of model {model.pk} failed: {model.failure_reason}",
                               returncode=TRAINING_FAILED)
        if options["promote"]:
            model = mlmodel_promote(tenant=tenant, actor=actor, model_id=model.pk)
        self._print(model, options["json"])

    @staticmethod
    def _training_options(options: dict[str, Any]) -> dict[str, Any]:
        return {"architecture": options["model"], "epochs": options["epochs"],
                "seed": options["seed"],
                "label": {"kind": options["label"], "horizon": options["horizon"]}}

    def _progress(self, event: dict[str, Any]) -> None:
        if event.get("event") == "epoch":
            fold = f"fold {event['fold']}/{event['folds']} " if "fold" in event else ""
            self.stderr.write(f"{fold}epoch {event['epoch']}/{event['epochs']}  train "
                              f"{event['train_loss']:.4f}  validation "
                              f"{event['validation_loss']:.4f}  (best {event['best_epoch']})")

    def _print(self, model: MLModel, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(model.as_dict(), allow_nan=False))
            return
        test, backtest = model.metrics["test"], model.metrics["backtest"]
        score = (f"accuracy {test['accuracy']:.3f} (baseline {test['baseline_accuracy']:.3f}),"
                 f" F1 {test['f1_macro']:.3f}" if "accuracy" in test else
                 f"RMSE {test['rmse']:.6f} (baseline {test['baseline_rmse']:.6f})")
        lines = [f"Model {model.pk}: {model.symbol} {model.timeframe} v{model.version} "
                 f"({model.architecture}), {model.status}",
                 *(f"  {name:<10} {start} .. {end}" for name, (start, end)
                   in model.splits.items()),
                 f"  normaliser fitted on train only ({model.normalization['fit_rows']} rows)",
                 f"  test: {score}",
                 f"  ml_signal on test: {backtest['return_pct']:.2f} % "
                 f"(buy and hold {backtest['test_buy_hold_return_pct']:.2f} %), "
                 f"{backtest['trades']} trades"]
        self.stdout.write("\n".join(lines))


