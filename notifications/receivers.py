"""Signal receivers: other apps' events become Telegram alerts; removed members lose chats.

A receiver never raises into the sender (an engine tick, a vault read): a failed alert is
logged and the sender carries on.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import close_old_connections, connection, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from notifications import services
from tenants import signals as tenant_signals
from tenants.models import Membership
from trading.signals import bot_auto_paused, bot_drift_found, order_failed

logger = logging.getLogger(__name__)
_background: list[threading.Thread] = []


def _safely(function: Callable[..., object], **kwargs) -> None:
    try:
        function(**kwargs)
    except Exception:  # an alert must never break the action that caused it
        logger.exception("telegram alert %s failed", function.__name__)


@receiver(bot_auto_paused, dispatch_uid="notifications.auto_pause")
def on_bot_auto_paused(sender, *, tenant_id: int, bot_id: int, reason: str, **kwargs) -> None:
    """A circuit breaker paused a bot (sent after commit)."""
    _safely(services.alert_bot_auto_paused, tenant_id=tenant_id, bot_id=bot_id, reason=reason)


@receiver(bot_drift_found, dispatch_uid="notifications.drift")
def on_bot_drift_found(sender, *, tenant_id: int, bot_id: int, summary: str, **kwargs) -> None:
    """Reconciliation found drift on a paused or stopped bot (sent after commit)."""
    _safely(services.alert_drift, tenant_id=tenant_id, bot_id=bot_id, summary=summary)


@receiver(tenant_signals.plan_changed, dispatch_uid="notifications.plan_changed")
def on_plan_changed(sender, *, tenant, old_plan: str, new_plan: str, reason: str,
                    **kwargs) -> None:
    """The plan changed (sent inside its transaction): announce it once that commits."""
    transaction.on_commit(lambda: _safely(
        services.alert_plan_changed, tenant_id=tenant.pk, old_plan=old_plan,
        new_plan=new_plan, reason=reason))


@receiver(order_failed, dispatch_uid="notifications.order_failed")
def on_order_failed(sender, *, tenant_id: int, bot_id: int, order_id: int | None = None,
                    error: str = "", side: str = "", **kwargs) -> None:
    """An order was rejected or failed (sent after commit)."""
    _safely(services.alert_order_failed, tenant_id=tenant_id, bot_id=bot_id, order_id=order_id,
            error=error, side=side)


def on_vault_failure(sender, *, tenant_id: int, name: str | None = None, reason: str = "",
                     **kwargs) -> None:
    """The vault refused to open a secret. It signals at once, inside a transaction that is
    about to roll back, so the alert is written from a thread with its own connection."""
    if not connection.in_atomic_block:
        _safely(services.alert_vault_failure, tenant_id=tenant_id, name=name, reason=reason)
        return
    thread = threading.Thread(target=_in_own_connection, daemon=True,
                              args=(services.alert_vault_failure,),
                              kwargs={"tenant_id": tenant_id, "name": name, "reason": reason})
    _background.append(thread)
    thread.start()


def _in_own_connection(function: Callable[..., object], **kwargs) -> None:
    try:
        _safely(function, **kwargs)
    finally:
        close_old_connections()
        connection.close()


def wait_for_background(timeout: float = 10.0) -> None:
    """Join alert threads started by on_vault_failure (tests and graceful shutdown)."""
    while _background:
        _background.pop().join(timeout)


vault_failure = getattr(tenant_signals, "vault_failure", None)
if vault_failure is not None:
    vault_failure.connect(on_vault_failure, dispatch_uid="notifications.vault")


@receiver(post_delete, sender=Membership, dispatch_uid="notifications.member_removed")
def on_membership_deleted(sender, *, instance: Membership, **kwargs) -> None:
    """A member left or was removed: their linked chats stop at once (same transaction)."""
    services.link_deactivate_for_member(tenant_id=instance.tenant_id, user_id=instance.user_id)
