"""Reconciliation: each live account's exchange truth against the ledger.

A beat task (`reconcile-live-accounts`, aitrader/celery.py) runs `reconcile_account` for every
live account with keys. Per account, on one exchange connection:

1. Fills the exchange reports for orders the ledger knows, and the ledger lacks, are
   recorded the way a tick records them (idempotently: a fill is unique per account and
   trade id). This catches an order that filled as it was canceled, or a worker that died
   between a fill and its recording.
2. Each bot's position is compared with what its recorded fills and fees imply (bought,
   less fees charged in the coin, less sold). A difference is a fee drift: the ledger holds
   coins the exchange never delivered (a fee in the base currency not taken off), so its
   exit would be refused or would sell the customer's own coins.
3. Each currency the account's bots buy is compared with the exchange's balance of it: the
   sum of the bots' positions. More on the exchange is normal (the customer's own coins);
   less means the venue and the ledger disagree (a manual sale, a withdrawal, a fill nobody
   recorded).

On a drift the running bots concerned are safe-stopped (auto-paused with the reason, which
alerts the tenant), and for bots already paused a drift alert goes out.

A currency with orders in flight is not judged: their fills may not be in the ledger yet. A
stop resting at the exchange (trading.services.protection) is not in flight: it may rest for
weeks, and since balances are read before fills are imported, its sale landing mid-run
leaves the exchange holding more than the ledger, not less.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.cache import cache
from django.utils import timezone
from redis.exceptions import RedisError

from aitrader.errors import ServiceError
from trading import selectors
from trading.exchanges.base import Exchange, ExchangeError, TradeFill
from trading.exchanges.factory import live_exchange
from trading.fields import MoneySum
from trading.models import Bot, ExchangeAccount, Fill, Order, Position, ReconcileStatus
from trading.services import ledger
from trading.services import orders as order_services
from trading.services.bots import bot_auto_pause, bot_drift_alert

logger = logging.getLogger(__name__)
# How far back each run asks for fills; runs are a minute apart, so this is a wide overlap.
FILL_LOOKBACK = timedelta(hours=1)
# Relative shortfall of the exchange tolerated against the ledger. The ledger is exact and
# Binance reports balances to 8 places, so this only absorbs rounding; it must stay far
# below a trading fee (0.1 %), the very shortfall a fee taken in the coin leaves.
TOLERANCE = Decimal("0.000001")
# A position and its fills are sums of the same 12-place numbers: they agree exactly, up to
# the columns' rounding of an unusual fill; any fee is orders of magnitude larger.
FEE_DRIFT_TOLERANCE = Decimal("1E-10")


@dataclass(frozen=True)
class Drift:
    """The exchange holds less of `currency` than the account's bots hold by the ledger."""

    currency: str
    ledger: Decimal
    exchange: Decimal

    @property
    def summary(self) -> str:
        return (f"the exchange holds {self.exchange.normalize():f} {self.currency}, "
                f"the ledger {self.ledger.normalize():f}")

    @property
    def data(self) -> dict[str, str]:
        return {"currency": self.currency, "ledger": str(self.ledger),
                "exchange": str(self.exchange)}


@dataclass(frozen=True)
class FeeDrift:
    """A bot's position is not what its own fills and fees imply."""

    currency: str
    bot_name: str
    position: Decimal
    implied: Decimal

    @property
    def summary(self) -> str:
        return (f"fee drift: bot '{self.bot_name}' holds {self.position.normalize():f} "
                f"{self.currency} by its position, {self.implied.normalize():f} by its fills "
                f"and fees")

    @property
    def data(self) -> dict[str, str]:
        return {"currency": self.currency, "kind": "fee", "position": str(self.position),
                "implied": str(self.implied)}


@dataclass
class ReconcileReport:
    """What one run found for one account."""

    account_id: int
    fills_imported: int = 0
    checked: list[str] = field(default_factory=list)
    in_flight: list[str] = field(default_factory=list)
    drifts: list[Drift | FeeDrift] = field(default_factory=list)
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
        # Balances first: a resting stop may fill at any moment, and a sale landing between
        # the two reads then leaves the exchange holding more than the ledger, never less.
        balances = exchange.fetch_balance()
        _keep_balances(account, balances)
        _resolve_unanswered(account, bots, exchange)
        report.fills_imported = _import_missing_fills(account, bots, exchange)
    except ExchangeError as exc:
        logger.warning("reconciliation of account %s stopped: %s", account.pk, exc)
        report.error = str(exc)
        return
    _judge(account, bots, balances, report)


def _keep_balances(account: ExchangeAccount, balances: dict) -> None:
    """Keep what the account holds, for its owners to see beside the bots that use it."""
    held = {currency: {part: f"{getattr(balance, part).normalize():f}"  # 0.0 -> "0"
                       for part in ("free", "used", "total")}
            for currency, balance in sorted(balances.items()) if balance.total}
    ExchangeAccount.objects.for_tenant(account.tenant_id).filter(pk=account.pk).update(
        balances=held, balances_at=timezone.now())


def _resolve_unanswered(account: ExchangeAccount, bots: list[Bot], exchange: Exchange) -> None:
    """Settle the account's orders whose answer was lost, by client id (nothing is sent): an
    unknown order would otherwise hold its currency "in flight", unjudged, for good."""
    by_id = {bot.pk: bot for bot in bots}
    for order in Order.objects.for_tenant(account.tenant_id).filter(
            account=account, bot__in=bots, status=Order.Status.UNKNOWN):
        order_services.order_resolve(bot=by_id[order.bot_id], order=order, exchange=exchange)


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
        missing = _unrecorded(account, reported)
        step = exchange.amount_step(symbol) if missing else Decimal(0)
        for order, fill in missing:
            if ledger.fill_record(bot=order.bot, order=order, fill=fill,
                                  amount_step=step if fill.side == "sell" else Decimal(0)
                                  ) is not None:
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
    # A stop resting at the exchange is not in flight: its fills were imported above.
    in_flight = {_base(symbol) for symbol in Order.objects.for_tenant(account.tenant_id).filter(
        account=account, status__in=selectors.PENDING_ORDER_STATUSES)
        .exclude(type__in=Order.PROTECTIVE_TYPES).values_list("symbol", flat=True)}
    positions, implied = _positions(account, bots), _implied_by_fills(account, bots)
    for currency in sorted({bot.base_currency for bot in bots
                            if bot.pk in positions or bot.pk in implied}):
        if currency in in_flight:
            report.in_flight.append(currency)
            continue
        report.checked.append(currency)
        ours = [bot for bot in bots if bot.base_currency == currency]
        stopped = _judge_fees(ours, positions, implied, report)
        expected = sum((positions.get(bot.pk, Decimal(0)) for bot in ours), Decimal(0))
        held = balances[currency].total if currency in balances else Decimal(0)
        if held < expected - expected * TOLERANCE:
            drift = Drift(currency, expected, held)
            report.drifts.append(drift)
            _safe_stop([bot for bot in ours if bot.pk not in stopped], drift)


def _judge_fees(bots: list[Bot], positions: dict[int, Decimal], implied: dict[int, Decimal],
                report: ReconcileReport) -> set[int]:
    """Safe-stop each bot whose position is not what its fills and fees imply; returns
    their ids."""
    stopped = set()
    for bot in bots:
        position = positions.get(bot.pk, Decimal(0))
        by_fills = implied.get(bot.pk, Decimal(0))
        if abs(position - by_fills) > FEE_DRIFT_TOLERANCE:
            drift = FeeDrift(bot.base_currency, bot.name, position, by_fills)
            report.drifts.append(drift)
            _safe_stop([bot], drift)
            stopped.add(bot.pk)
    return stopped


def _positions(account: ExchangeAccount, bots: list[Bot]) -> dict[int, Decimal]:
    """The position of each active bot in its own symbol, by the ledger. A stopped bot's
    coins are left to the customer, who may sell them by hand."""
    symbols = {bot.pk: bot.symbol for bot in bots}
    rows = Position.objects.for_tenant(account.tenant_id).filter(
        bot_id__in=symbols).values_list("bot_id", "symbol", "amount")
    return {bot_id: amount for bot_id, symbol, amount in rows if symbols[bot_id] == symbol}


def _implied_by_fills(account: ExchangeAccount, bots: list[Bot]) -> dict[int, Decimal]:
    """What each active bot holds by its recorded fills: bought, less sold, less the fees
    charged in the coin it trades (on either side)."""
    base = {bot.pk: bot.base_currency for bot in bots}
    implied: dict[int, Decimal] = defaultdict(Decimal)
    sums = (Fill.objects.for_tenant(account.tenant_id)
            .filter(account=account, bot_id__in=base)
            .values("bot_id", "side", "fee_currency")
            .annotate(amount=MoneySum("amount"), fee=MoneySum("fee")).order_by())
    for row in sums:
        bot_id = row["bot_id"]
        implied[bot_id] += row["amount"] if row["side"] == "buy" else -row["amount"]
        if row["fee_currency"].upper() == base[bot_id]:
            implied[bot_id] -= row["fee"]
    return implied


def _safe_stop(bots: list[Bot], drift: Drift | FeeDrift) -> None:
    data = drift.data
    for bot in bots:
        if bot.status == Bot.Status.RUNNING:
            bot_auto_pause(bot=bot, reason=f"reconciliation drift: {drift.summary}", data=data)
        elif bot.status == Bot.Status.PAUSED and _first_report_this_hour(bot, drift):
            bot_drift_alert(bot=bot, summary=drift.summary, data=data)


def _first_report_this_hour(bot: Bot, drift: Drift | FeeDrift) -> bool:
    """A paused bot's drift goes to its feed and alerts once an hour while it lasts, not on
    every run (its Telegram alert has the same hourly key)."""
    key = f"reconcile:drift:{bot.pk}:{drift.currency}:{timezone.now():%Y-%m-%dT%H}"
    try:
        return cache.add(key, True, timeout=3600)
    except RedisError:  # the shared cache is down: report again rather than stay silent
        return True


def _base(symbol: str) -> str:
    return symbol.split("/", 1)[0]
