"""The model registry: every trained (or failed) model of a tenant, versioned per market.

A model's files live under MEDIA_ROOT/models/<tenant id>/<model id>/ (mlmodels.artifacts);
the row records what it learned from, how it was normalised, how well it did and its
lifecycle: training -> ready -> active -> (ready | retired), or training -> failed.
At most one model is active per (tenant, symbol, timeframe); the database enforces it.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantScopedModel

DEFAULT_MAX_AGE = timedelta(days=30)


class MLModel(TenantScopedModel):
    """One trained model of a tenant for one symbol and timeframe."""

    class Status(models.TextChoices):
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"
        FAILED = "failed", "Failed"

    class Architecture(models.TextChoices):
        MLP = "mlp", "MLP"
        LSTM = "lstm", "LSTM"
        GRU = "gru", "GRU"

    symbol = models.CharField(max_length=30)
    timeframe = models.CharField(max_length=8)
    version = models.PositiveIntegerField(help_text="1, 2, ... per tenant, symbol, timeframe")
    architecture = models.CharField(max_length=8, choices=Architecture.choices,
                                    default=Architecture.MLP)
    feature_set = models.CharField(max_length=40)
    label = models.JSONField(default=dict, help_text="kind, horizon and the fitted flat band")
    options = models.JSONField(default=dict, help_text="the training options, as asked")
    dataset = models.JSONField(default=dict, blank=True, help_text="sizes, gap, split indices")
    splits = models.JSONField(default=dict, blank=True,
                              help_text="train / validation / test as [first, last] candle times")
    normalization = models.JSONField(default=dict, blank=True,
                                     help_text="fitted on the training split only")
    metrics = models.JSONField(default=dict, blank=True)
    training = models.JSONField(default=dict, blank=True,
                                help_text="best epoch, epochs run, loss history")
    walk_forward = models.JSONField(null=True, blank=True)
    walk_forward_folds = models.PositiveSmallIntegerField(default=0)
    progress = models.JSONField(default=dict, blank=True, help_text="latest epoch while training")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.TRAINING,
                              db_index=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    artifact_path = models.CharField(max_length=300, blank=True,
                                     help_text="relative to MEDIA_ROOT")
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    data_source = models.CharField(max_length=500, blank=True,
                                   help_text="candle file the model learned from (for retraining)")
    data_end_ts = models.BigIntegerField(null=True, blank=True,
                                         help_text="epoch ms of the newest candle used")
    max_age = models.DurationField(null=True, blank=True, default=DEFAULT_MAX_AGE,
                                   help_text="staleness limit after training; empty = never")
    retrain_every = models.DurationField(null=True, blank=True,
                                         help_text="scheduled retraining interval; empty = off")
    retrain_auto_promote = models.BooleanField(
        default=False, help_text="promote a scheduled retrain that beats its naive baseline")
    retrained_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True,
                                      help_text="when a worker took the training run")
    trained_at = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "symbol", "timeframe", "version"],
                                    name="mlmodel_unique_version"),
            models.UniqueConstraint(fields=["tenant", "symbol", "timeframe"],
                                    condition=models.Q(status="active"),
                                    name="mlmodel_one_active_per_market"),
        ]
        indexes = [models.Index(fields=["tenant", "symbol", "timeframe", "status"])]
        ordering = ["-created_at", "-pk"]
        verbose_name = "ML model"

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} v{self.version} ({self.status})"

    def as_dict(self) -> dict:
        """The registry entry as JSON: what `train_model --json` prints (and the API can)."""
        return {"model_id": self.pk, "version": self.version, "status": self.status,
                "symbol": self.symbol, "timeframe": self.timeframe,
                "architecture": self.architecture, "feature_set": self.feature_set,
                "label": self.label, "metrics": self.metrics, "splits": self.splits,
                "normalization": self.normalization, "dataset": self.dataset,
                "training": self.training, "walk_forward": self.walk_forward,
                "failure_reason": self.failure_reason, "artifact_sha256": self.artifact_sha256,
                "trained_at": self.trained_at.isoformat() if self.trained_at else None,
                "max_age_seconds": self.max_age.total_seconds() if self.max_age else None,
                "retrain_every_seconds": (self.retrain_every.total_seconds()
                                          if self.retrain_every else None)}

    def age(self, now=None) -> timedelta | None:
        """Time since training finished; None while it has not."""
        if self.trained_at is None:
            return None
        return (now or timezone.now()) - self.trained_at

    def is_stale(self, now=None) -> bool:
        """Older than its staleness limit (never, without a limit)."""
        age = self.age(now)
        return self.max_age is not None and age is not None and age > self.max_age
