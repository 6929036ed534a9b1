"""Celery entry points of the tenants app; they only call services."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="tenants.tasks.billing_sweep", ignore_result=True)
def billing_sweep() -> dict[str, int]:
    """Trial reminders, ended trials and ended grace periods (idempotent: each row moves
    once, so an overlapping or repeated run changes nothing twice)."""
    from tenants.billing.services import billing_sweep as sweep  # tasks import services lazily

    return sweep()
