"""Celery entry points of the notifications app; each only calls services or handlers.

`run_notifications_pass` is the plain function behind the beat task; the embedded scheduler
calls it once a minute in the server process.
"""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

# Services import these tasks; the tasks import services inside each function, so neither
# import runs into the other half-initialised.

logger = logging.getLogger(__name__)


def run_notifications_pass() -> dict[str, int]:
    """One pass: claim and send due check-ins, re-queue overdue deliveries. Never raises, so
    a scheduler loop survives a bad pass; safe to run concurrently with other passes."""
    from notifications import services

    counts = {"checkins": 0, "retried": 0}
    try:
        counts["checkins"] = services.checkin_send_due()
        counts["retried"] = services.delivery_retry_due()
    except Exception:  # keep the scheduler alive; the next pass retries what this one missed
        logger.exception("notifications pass failed")
    return counts


@shared_task(ignore_result=True)
def send_due_checkins() -> dict[str, int]:
    """Beat, every minute: exactly one check-in per link per interval, whatever the workers."""
    return run_notifications_pass()


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
