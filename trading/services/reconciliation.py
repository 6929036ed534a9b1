"""Reconciliation: each live account's exchange truth against the ledger.

A beat task (`reconcile-live-accounts`, aitrader/celery.py) runs `reconcile_account` for every
live account with keys. Per account, on one exchange connection:

1. Fills the exchange reports for orders the ledger knows, and the ledger lacks, are
   recorded the way a tick records them (idempotently: a fill is unique per account and
   trade id). This catches an order that filled as it was canceled, or a worker that died
   between a fill and its recording.
2. Each currency the account's bots buy is compared with the exchange's balance of it. More
   on the exchange is normal (the customer's own coins); less means the venue and the ledger
   disagree (a manual sale, a withdrawal, a fill nobody recorded). The running bots that
   trade that currency are then safe-stopped (auto-paused with the reason, which alerts the
   tenant), and for bots already paused a drift alert goes out.

A currency with orders in flight is not judged: their fills may not be in the ledger yet.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone
from redis.exceptions import RedisError

from aitrader.errors import ServiceError
from trading import selectors
from trading.exchanges.base import Exchange, ExchangeError, TradeFill
from trading.exchanges.factory import live_exchange
from trading.models import Bot, ExchangeAccount, Fill, Order, ReconcileStatus
from trading.services import ledger
from trading.services.bots import bot_auto_pause, bot_drift_alert

logger = logging.getLogger(__name__)
# How far back each run asks for fills; runs are a minute apart, so this is a wide overlap.
FILL_LOOKBACK = timedelta(hours=1)
# Relative difference tolerated between ledger and exchange (decimal noise, dust); a false
# safe-stop costs a customer trading time, so this errs on the side of the exchange.
TOLERANCE = Decimal("0.001")


@dataclass(frozen=True)
class Drift:
    """The exchange holds less of `currency` than the ledger says the bots bought."""

    currency: str
    ledger: Decimal
    exchange: Decimal

    @property
    def summary(self) -> str:
        return (f"the exchange holds {self.exchange.normalize():f} {self.currency}, "
                f"the ledger {self.ledger.normalize():f}")


@dataclass
class ReconcileReport:
    """What one run found for one account."""

    account_id: int
    fills_imported: int = 0
    checked: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    error: str = ""


def reconcile_account(*, tenant_id: int, account_id: int) -> ReconcileReport:
    """Import missing fills of the account's orders, then compare its holdings with the
    ledger and safe-stop on drift. Exchange trouble yields a report with `error`, no verdict.
    The outcome is kept on the account, for its owners to see."""
    report = ReconcileReport(account_id=account_id)
    account = ExchangeAccount.objects.for_tenant(tenant_id).filter(pk=account_id).first()
    bots = list(Bot.objects.for_tenant(tenant_id)
                .filter(account=account, status__in=Bot.ACTIVE_STATUSES)
                .select_related("account", "tenant")) if account else []
    if not bots:  # deleted, or its bots stopped, since the run was queued
        return report
    _compare(account, bots, report)
    _keep_outcome(account, report)
    return report


def _compare(account: ExchangeAccount, bots: list[Bot], report: ReconcileReport) -> None:
    try:
        exchange = live_exchange(account)
    except (ServiceError, ExchangeError) as exc:  # keys removed, vault or venue refused
        report.error = str(exc)
        return
    try:
        report.fills_imported = _import_missing_fills(account, bots, exchange)
        balances = exchange.fetch_balance()
    except ExchangeError as exc:
        logger.warning("reconciliation of account %s stopped: %s", account.pk, exc)
        report.error = str(exc)
        return
    _judge(account, bots, balances, report)


def _keep_outcome(account: ExchangeAccount, report: ReconcileReport) -> None:
    if report.drifts:
        status, detail = ReconcileStatus.DRIFT, "; ".join(d.summary for d in report.drifts)
    elif report.error:
        status, detail = ReconcileStatus.ERROR, report.error
    elif report.in_flight and not report.checked:
        status, detail = (ReconcileStatus.DEFERRED,
                          f"orders in flight on {', '.join(report.in_flight)}")
    else:
        status, detail = ReconcileStatus.OK, (f"checked {', '.join(report.checked)}"
                                              if report.checked else "nothing held")
    ExchangeAccount.objects.for_tenant(account.tenant_id).filter(pk=account.pk).update(
        reconciled_at=timezone.now(), reconcile_status=status, reconcile_detail=detail[:300])


def _import_missing_fills(account: ExchangeAccount, bots: list[Bot], exchange: Exchange) -> int:
    since_ms = int((timezone.now() - FILL_LOOKBACK).timestamp() * 1000)
    imported = 0
    for symbol in sorted({bot.symbol for bot in bots}):
        reported = exchange.fetch_my_trades(symbol, since_ms=since_ms)
        for order, fill in _unrecorded(account, reported):
            if ledger.fill_record(bot=order.bot, order=order, fill=fill) is not None:
                imported += 1
    return imported


def _unrecorded(account: ExchangeAccount,
                reported: list[TradeFill]) -> list[tuple[Order, TradeFill]]:
    """The reported fills of our orders that the ledger lacks, each with its order."""
    known = selectors.fill_trade_ids(tenant=account.tenant_id, account_id=account.pk,
                                     trade_ids=[fill.trade_id for fill in reported])
    missing = [fill for fill in reported if fill.trade_id not in known]
    orders = {order.exchange_order_id: order for order in Order.objects.for_tenant(
        account.tenant_id).filter(account=account, exchange_order_id__in=[
            fill.exchange_order_id for fill in missing]).select_related("bot__account")}
    return [(orders[fill.exchange_order_id], fill) for fill in missing
            if fill.exchange_order_id in orders]


def _judge(account: ExchangeAccount, bots: list[Bot], balances: dict,
           report: ReconcileReport) -> None:
    in_flight = {_base(symbol) for symbol in Order.objects.for_tenant(account.tenant_id).filter(
        account=account, status__in=selectors.PENDING_ORDER_STATUSES)
        .values_list("symbol", flat=True)}
    for currency, expected in sorted(_ledger_holdings(account).items()):
        if currency in in_flight:
            report.in_flight.append(currency)
            continue
        report.checked.append(currency)
        held = balances[currency].total if currency in balances else Decimal(0)
        if held < expected - expected * TOLERANCE:
            drift = Drift(currency, expected, held)
            report.drifts.append(drift)
            _safe_stop([bot for bot in bots if bot.base_currency == currency], drift)


def _ledger_holdings(account: ExchangeAccount) -> dict[str, Decimal]:
    """What the account's active bots hold of each currency they buy, by their recorded
    fills: bought, less sold, less fees charged in that currency. A stopped bot's coins are
    left to the customer, who may sell them by hand."""
    holdings: dict[str, Decimal] = defaultdict(Decimal)
    sums = (Fill.objects.for_tenant(account.tenant_id)
            .filter(account=account, bot__status__in=Bot.ACTIVE_STATUSES)
            .values("symbol", "side", "fee_currency")
            .annotate(amount=Sum("amount"), fee=Sum("fee")).order_by())
    for row in sums:
        base = _base(row["symbol"])
        holdings[base] += row["amount"] if row["side"] == "buy" else -row["amount"]
        if row["fee_currency"] == base:
            holdings[base] -= row["fee"]
    return holdings


def _safe_stop(bots: list[Bot], drift: Drift) -> None:
    data = {"currency": drift.currency, "ledger": str(drift.ledger),
            "exchange": str(drift.exchange)}
    for bot in bots:
        if bot.status == Bot.Status.RUNNING:
            bot_auto_pause(bot=bot, reason=f"reconciliation drift: {drift.summary}", data=data)
        elif bot.status == Bot.Status.PAUSED and _first_report_this_hour(bot, drift):
            bot_drift_alert(bot=bot, summary=drift.summary, data=data)


def _first_report_this_hour(bot: Bot, drift: Drift) -> bool:
    """A paused bot's drift goes to its feed and alerts once an hour while it lasts, not on
    every run (its Telegram alert has the same hourly key)."""
    key = f"reconcile:drift:{bot.pk}:{drift.currency}:{timezone.now():%Y-%m-%dT%H}"
    try:
        return cache.add(key, True, timeout=3600)
    except RedisError:  # the shared cache is down: report again rather than stay silent
        return True


def _base(symbol: str) -> str:
    return symbol.split("/", 1)[0]
