"""Telegram links, one-time link codes, per-tenant alert switches and the outbound message log.

A chat is bound to a tenant *and* to the member who created its code: commands run with that
member's role as it is at the moment of the command. Check-ins and alerts become
TelegramDelivery rows first and are sent by a task, so every retry, worker and beat restart
works from the same row (deduplicated by a unique key, claimed by a conditional UPDATE).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.scoping import TenantScopedModel


class TelegramLink(TenantScopedModel):
    """A Telegram chat linked to a tenant and to the member whose role its commands carry."""

    chat_id = models.BigIntegerField(db_index=True)
    chat_title = models.CharField(max_length=255, blank=True)
    chat_type = models.CharField(max_length=20, default="private")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="telegram_links",
                             help_text="The member whose role the chat's commands carry.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   help_text="Who issued the link code (empty: the CLI).")
    # The Telegram account that redeemed the code: in a group only it may control bots.
    telegram_user_id = models.BigIntegerField(null=True, blank=True)
    telegram_username = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True, db_index=True)
    checkins_enabled = models.BooleanField(default=True)
    checkin_interval_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES.")
    last_checkin_at = models.DateTimeField(null=True, blank=True)
    # Empty means "never checked in": due at once. Claimed by a conditional UPDATE.
    next_checkin_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivated_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # Platform-wide on purpose: one chat answers for one workspace at a time, so a
            # command can never act on a tenant the chat's people did not mean.
            models.UniqueConstraint(fields=["chat_id"], condition=Q(active=True),
                                    name="telegram_link_one_active_per_chat"),
        ]
        indexes = [models.Index(fields=["tenant", "active"])]

    def __str__(self) -> str:
        return f"chat {self.chat_id} -> {self.tenant_id}"

    @property
    def label(self) -> str:
        """How the chat is named in lists and audit rows."""
        if self.chat_title:
            return self.chat_title
        if self.telegram_username:
            return f"@{self.telegram_username}"
        return f"chat {self.chat_id}"


class TelegramLinkCode(TenantScopedModel):
    """A one-time code that links a chat to its tenant; only a SHA-256 of the code is kept."""

    code_hash = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="+", help_text="The member the chat will act as.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by_chat_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"link code for {self.user_id} in {self.tenant_id}"


class AlertKind(models.TextChoices):
    """Alert types a tenant can switch on or off (a field of NotificationSettings each)."""

    AUTO_PAUSE = "auto_pause", "Bot auto-paused by a circuit breaker"
    ORDER_FAILED = "order_failed", "Order rejected or failed"
    DRIFT = "drift", "Reconciliation drift"
    VAULT = "vault", "Vault failure (a secret could not be opened)"
    BILLING = "billing", "Plan changed (billing, trial or staff)"


class NotificationSettings(TenantScopedModel):
    """Which alert types a tenant's linked chats receive (every type is on by default)."""

    auto_pause = models.BooleanField(default=True)
    order_failed = models.BooleanField(default=True)
    drift = models.BooleanField(default=True)
    vault = models.BooleanField(default=True)
    billing = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"],
                                               name="notification_settings_one_per_tenant")]
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"notification settings of {self.tenant_id}"

    def allows(self, kind: str) -> bool:
        """Whether alerts of `kind` (an AlertKind value) are switched on."""
        return bool(getattr(self, AlertKind(kind).value))


class TelegramDelivery(TenantScopedModel):
    """One message for one linked chat: a check-in or an alert, sent by a retrying task."""

    class Kind(models.TextChoices):
        CHECKIN = "checkin", "Check-in"
        AUTO_PAUSE = "auto_pause", "Auto-pause alert"
        ORDER_FAILED = "order_failed", "Order failure alert"
        DRIFT = "drift", "Drift alert"
        VAULT = "vault", "Vault alert"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        DROPPED = "dropped", "Dropped (chat gone or unlinked)"

    link = models.ForeignKey(TelegramLink, on_delete=models.CASCADE, related_name="deliveries")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # What makes two messages "the same": a check-in slot, an order id, a pause event...
    dedup_key = models.CharField(max_length=64)
    text = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt may start; an attempt in flight pushes it out (its lease).
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["link", "dedup_key"],
                                               name="telegram_delivery_unique_per_link")]
        verbose_name_plural = "telegram deliveries"

    def __str__(self) -> str:
        return f"{self.kind} to {self.link_id} ({self.status})"


# The per-event switches of an outgoing channel (a BooleanField of NotificationChannel each).
CHANNEL_EVENTS = ("entry", "exit", "alert", "daily_digest")


class NotificationChannel(TenantScopedModel):
    """An outgoing channel beside Telegram: an e-mail address or a signed webhook (Discord,
    Slack or any HTTPS endpoint), with per-event switches like freqtrade's
    notification_settings. A webhook's URL and signing secret live in the vault (one entry,
    `secret_name`, with two fields), never here: the row keeps only the URL's display form."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    target = models.CharField(max_length=500, help_text=(
        "The e-mail address, or a webhook's display form (its host); the URL is in the vault."))
    active = models.BooleanField(default=True, db_index=True)
    entry = models.BooleanField(default=True, help_text="A bot opened a trade.")
    exit = models.BooleanField(default=True, help_text="A bot closed a trade.")
    alert = models.BooleanField(default=True,
                                help_text="Auto-pause, order failure, drift, vault, billing.")
    daily_digest = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["tenant", "active"])]

    def __str__(self) -> str:
        return f"{self.kind} channel {self.pk} of {self.tenant_id}"

    def wants(self, event: str) -> bool:
        """Whether this channel's switch for `event` (entry, exit, alert, daily_digest) is on."""
        return event in CHANNEL_EVENTS and bool(getattr(self, event, False))

    @property
    def secret_name(self) -> str:
        """The vault entry holding a webhook's URL and signing secret (stable, unique per
        tenant)."""
        return f"notification-channel-{self.pk}"

    @property
    def display_target(self) -> str:
        """The target as lists, audit rows and logs show it: an e-mail address, or a
        webhook's host and "…" (its URL works as a credential and is only in the vault)."""
        return self.target


def webhook_display_form(url: str) -> str:
    """What a webhook channel's row keeps of its URL: the host and "…", nothing of the path
    (a Discord or Slack webhook's path is its token)."""
    return f"{urlsplit(url).hostname or '?'}/…"


class ChannelDelivery(TenantScopedModel):
    """One message for one outgoing channel, sent by a retrying task (like TelegramDelivery)."""

    Status = TelegramDelivery.Status

    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE,
                                related_name="deliveries")
    event = models.CharField(max_length=20)
    dedup_key = models.CharField(max_length=64)
    subject = models.CharField(max_length=200)
    text = models.TextField()
    # Structured fields of the webhook body (alert kind, bot id and name, trade figures...).
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=TelegramDelivery.Status.choices,
                              default=TelegramDelivery.Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "dedup_key"],
                                               name="channel_delivery_unique_per_channel")]
        verbose_name_plural = "channel deliveries"

    def __str__(self) -> str:
        return f"{self.event} to channel {self.channel_id} ({self.status})"
