"""Celery entry points of the trading app: they take ids and call the engine or services."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from aitrader.jobs import BackgroundTask
from trading import selectors

# Services import these tasks; the tasks import the engine and services inside each function,
# so neither import runs into the other half-initialised.


@shared_task(acks_late=True, ignore_result=True)
def tick_bot(tenant_id: int, bot_id: int) -> str:
    """One tick of one bot (idempotent: safe to redeliver); kept for tasks already queued."""
    from trading import engine

    return engine.run_tick(tenant_id=tenant_id, bot_id=bot_id).status


@shared_task(acks_late=True, ignore_result=True)
def tick_bots(tenant_id: int, bot_ids: list[int]) -> dict[str, int]:
    """One tick of each of a tenant's bots, as one batch (idempotent: safe to redeliver);
    returns how many ended in each status."""
    from trading import engine

    outcomes = engine.run_ticks(tenant_id=tenant_id, bot_ids=bot_ids)
    return dict(Counter(outcome.status for outcome in outcomes))


@shared_task(ignore_result=True)
def schedule_due_bots(limit: int = 5000) -> int:
    """Beat task: queue the due bots as per-tenant batches; returns how many bots were queued.

    One task per batch, not per bot: a batch writes its ticks with a few bulk queries.
    A queued bot is not queued again for one lease length (a tick interval): long enough
    not to queue it twice in the normal case, short enough that a task lost with its worker
    before it claimed the bot costs at most one interval.
    """
    from trading import engine
    from trading.services.bots import bot_defer_ticks, tick_lease_seconds

    now = timezone.now()
    due = selectors.bots_due(now=now, limit=limit)
    bot_defer_ticks(bot_ids=[bot_id for _, bot_id in due],
                    until=now + timedelta(seconds=tick_lease_seconds()))
    for tenant_id, bot_ids in engine.tick_batches(due):
        tick_bots.delay(tenant_id, bot_ids)
    return len(due)


@shared_task(base=BackgroundTask, acks_late=True, ignore_result=True)
def close_all_task(tenant_id: int, bot_id: int) -> None:
    """A first attempt at a close-all request (cancel orders, sell the position) right away;
    it never raises: what fails is retried by the bot's next ticks (see
    trading.engine.closing._close_step)."""
    from trading import engine

    engine.close_all(tenant_id=tenant_id, bot_id=bot_id)


@shared_task(base=BackgroundTask, acks_late=True, ignore_result=True)
def backtest_run_task(tenant_id: int, run_id: int) -> None:
    """Run one queued backtest (progress goes to the tenant's live feed)."""
    from trading.services.backtests import backtest_run_execute

    backtest_run_execute(tenant_id=tenant_id, run_id=run_id)


@shared_task(base=BackgroundTask, acks_late=True, ignore_result=True)
def sweep_run_task(tenant_id: int, sweep_id: int) -> None:
    """Run one queued parameter sweep (progress goes to the tenant's live feed)."""
    from trading.services.sweeps import sweep_execute

    sweep_execute(tenant_id=tenant_id, sweep_id=sweep_id)


@shared_task(base=BackgroundTask, acks_late=True, ignore_result=True)
def candle_upload_import_task(tenant_id: int, upload_id: str) -> None:
    """Import one kept candle upload into its tenant's history (the status file says how)."""
    from trading.services.candle_history import candle_upload_execute

    candle_upload_execute(tenant_id=tenant_id, upload_id=upload_id)


@shared_task(base=BackgroundTask, acks_late=True, ignore_result=True)
def history_download_task(tenant_id: int, download_id: str) -> None:
    """Download one market's history into the shared store (the status file says how)."""
    from trading.services.candle_history import history_download_execute

    history_download_execute(tenant_id=tenant_id, download_id=download_id)


@shared_task(ignore_result=True)
def reconcile_live_accounts() -> int:
    """Beat task: queue one reconciliation per live account with keys and bots; returns how
    many were queued."""
    accounts = selectors.accounts_to_reconcile()
    for tenant_id, account_id in accounts:
        reconcile_account_task.delay(tenant_id, account_id)
    return len(accounts)


@shared_task(acks_late=True, ignore_result=True)
def reconcile_account_task(tenant_id: int, account_id: int) -> None:
    """Compare one live account with the ledger (see trading.services.reconciliation)."""
    from trading.services.reconciliation import reconcile_account

    reconcile_account(tenant_id=tenant_id, account_id=account_id)


@shared_task(base=BackgroundTask, ignore_result=True)
def refresh_market_catalogue(exchange_id: str) -> None:
    """Load one exchange's markets into the shared cache (asked for when they are missing);
    on the job pool in the embedded default, so the page that asked never waits for it."""
    from trading.services.market import market_catalogue_refresh

    market_catalogue_refresh(exchange_id=exchange_id)


@shared_task(ignore_result=True)
def refresh_market_catalogues() -> int:
    """Reload the markets of every exchange an account uses into the shared cache."""
    from trading.services.market import market_catalogues_refresh_all

    return market_catalogues_refresh_all()


@shared_task(ignore_result=True)
def refresh_market_data() -> int:
    """Fetch every active feed for the current candle (once; shared by all tenants), so
    ticks find fresh candles in the cache. Runs on the `marketdata` queue."""
    from trading.exchanges.factory import market_source
    from trading.marketdata import MarketDataUnavailable, get_snapshot

    refreshed = 0
    for exchange_id, symbol, timeframe in selectors.active_feeds():
        try:
            get_snapshot(market_source(exchange_id), exchange_id, symbol, timeframe)
            refreshed += 1
        except MarketDataUnavailable:  # recorded on MarketFeed; the breakers act on it
            continue
    return refreshed
