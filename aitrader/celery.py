"""Celery application: engine ticks, check-ins, reconciliation and training.

Reliability defaults live in settings (CELERY_*): acks_late with reject_on_worker_lost so a
task whose worker dies is redelivered, prefetch 1 so one slow task does not hold others back.
Tasks themselves are idempotent, which is what makes redelivery safe.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitrader.settings.local")

app = Celery("aitrader")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Market-data fetches have their own queue (the compose file's `marketdata` worker), so a
# slow exchange never delays bot ticks.
app.conf.task_routes = {"trading.tasks.refresh_market_data": {"queue": "marketdata"}}

# Beat: queue due bot ticks every few seconds (each tick decides whether a candle is new).
app.conf.beat_schedule = {
    "schedule-due-bots": {"task": "trading.tasks.schedule_due_bots", "schedule": 2.0},
    # Shared market data: one fetch per feed per candle, ahead of the ticks that read it.
    "refresh-market-data": {"task": "trading.tasks.refresh_market_data", "schedule": 5.0},
    # The markets and timeframes each exchange lists (bot forms and checks), once an hour.
    "refresh-market-catalogues": {"task": "trading.tasks.refresh_market_catalogues",
                                  "schedule": 3600.0},
    # Live accounts: import missed fills, compare holdings with the ledger, safe-stop on drift.
    "reconcile-live-accounts": {"task": "trading.tasks.reconcile_live_accounts",
                                "schedule": 60.0},
    # Telegram: claim due check-ins (exactly once per link per interval) and retry strays.
    "send-due-checkins": {"task": "notifications.tasks.send_due_checkins", "schedule": 60.0},
    # E-mail and webhook channels: one daily digest per channel per UTC day, stray retries.
    "notification-channels": {"task": "notifications.tasks.send_channel_work",
                              "schedule": 60.0},
    # ML: start scheduled retrainings that are due; fail training runs whose worker vanished.
    "retrain-due-models": {"task": "mlmodels.tasks.retrain_due_models", "schedule": 300.0},
    # Billing: trial reminders three days ahead; trials and grace periods that ended fall back
    # to Free (live bots paused with the reason).
    "billing-sweep": {"task": "tenants.tasks.billing_sweep", "schedule": 3600.0},
}
