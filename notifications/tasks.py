"""Celery entry points of the notifications app; each only calls services or handlers.

`run_notifications_pass` is the plain function behind the beat task; the embedded scheduler
calls it once a minute in the server process.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import shared_task

# Services import these tasks; the tasks import services inside each function, so neither
# import runs into the other half-initialised.

logger = logging.getLogger(__name__)


def _run_pass(name: str, steps: dict[str, Callable[[], int]]) -> dict[str, int]:
    """Run each step, counting what it did. Never raises, so a scheduler loop survives a bad
    pass; the next pass retries what this one missed."""
    counts = dict.fromkeys(steps, 0)
    try:
        for key, step in steps.items():
            counts[key] = step()
    except Exception:  # keep the scheduler alive
        logger.exception("%s pass failed", name)
    return counts


def run_notifications_pass() -> dict[str, int]:
    """One pass: claim and send due check-ins, re-queue overdue deliveries; safe to run
    concurrently with other passes."""
    from notifications import services

    return _run_pass("notifications", {"checkins": services.checkin_send_due,
                                       "retried": services.delivery_retry_due})


@shared_task(ignore_result=True)
def send_due_checkins() -> dict[str, int]:
    """Beat, every minute: exactly one check-in per link per interval, whatever the workers."""
    return run_notifications_pass()


def run_channels_pass() -> dict[str, int]:
    """One pass for e-mail and webhook channels: queue yesterday's daily digests (once per
    channel per UTC day) and re-queue overdue deliveries."""
    from notifications import services_channels as channels

    return _run_pass("notification channels", {"digests": channels.digest_send_due,
                                                "retried": channels.channel_retry_due})


@shared_task(ignore_result=True)
def send_channel_work() -> dict[str, int]:
    """Beat, every minute: daily digests and stray retries of e-mail and webhook channels."""
    return run_channels_pass()


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver_channel_message(self, delivery_id: int) -> str:
    """Send one ChannelDelivery (e-mail or webhook); retry with backoff or Retry-After. In
    eager mode the minute pass does the retrying (a task cannot wait for a countdown)."""
    from notifications import services_channels as channels

    outcome = channels.channel_delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=max(outcome.retry_in, 0.0))
    return outcome.status


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver_message(self, delivery_id: int) -> str:
    """Send one TelegramDelivery; retry after Telegram's retry_after (429) or with backoff.

    In eager mode (embedded default) a task cannot wait for a countdown, so the retry is left
    to the minute pass, which re-queues overdue deliveries.
    """
    from notifications import services

    outcome = services.delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=max(outcome.retry_in, 0.0))
    return outcome.status


@shared_task(acks_late=False, ignore_result=True)
def process_update(data: dict[str, Any]) -> None:
    """Handle one Telegram update that arrived through the webhook.

    Acknowledged on receipt (unlike the project default): a command half-run by a dying
    worker is not replayed behind the user's back; they can send it again.
    """
    # The handlers reach the services (through the commands), which import these tasks.
    from notifications.handlers import process_update as handle

    handle(data)
