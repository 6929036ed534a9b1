"""Trading data: accounts, bots, the order ledger, trades, positions, thoughts, equity.

Every model is tenant-owned. Money and amounts are Decimal (28 digits, 12 places covers both
BTC satoshis and large USDT notionals). Timestamps of candles are epoch milliseconds, the
exchanges' own unit.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.scoping import TenantScopedModel
from trading.fields import MoneyField, MoneyLimitValidator


def money(limit: str | None = None, **kwargs) -> MoneyField:
    """A Decimal column wide enough for prices, amounts and fees, exact on every backend.

    `limit` names the `trading.core.money` limit a person's input must respect (the admin and any
    model form enforce it; services check it too).
    """
    kwargs.setdefault("max_digits", 28)
    kwargs.setdefault("decimal_places", 12)
    if limit is not None:
        kwargs["validators"] = [MoneyLimitValidator(limit), *kwargs.get("validators", [])]
    return MoneyField(**kwargs)


ZERO = Decimal("0")


class TradingMode(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class Side(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class ReconcileStatus(models.TextChoices):
    """How the last reconciliation of a live account ended."""

    OK = "ok", "In line with the ledger"
    DRIFT = "drift", "Drift"
    DEFERRED = "deferred", "Orders in flight"
    ERROR = "error", "Exchange unreadable"


class ExchangeAccount(TenantScopedModel):
    """A tenant's account at an exchange (ccxt id), traded live or simulated on paper."""

    label = models.CharField(max_length=80)
    exchange_id = models.CharField(max_length=40, default="binance")
    mode = models.CharField(max_length=10, choices=TradingMode.choices, default=TradingMode.PAPER)
    # Name of the vault entry holding the API key/secret; blank means no credentials.
    credential_ref = models.CharField(max_length=120, blank=True)
    quote_currency = models.CharField(max_length=10, default="USDT")
    paper_starting_balance = money("paper_balance", default=Decimal("10000"))
    maker_fee = money("fee_rate", default=Decimal("0.001"), max_digits=10, decimal_places=6)
    taker_fee = money("fee_rate", default=Decimal("0.001"), max_digits=10, decimal_places=6)
    slippage = money("slippage", default=Decimal("0.0005"), max_digits=10, decimal_places=6)
    created_at = models.DateTimeField(default=timezone.now)
    # The last reconciliation (trading.services.reconciliation): when, how, what it found.
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconcile_status = models.CharField(max_length=10, choices=ReconcileStatus.choices,
                                        blank=True)
    reconcile_detail = models.CharField(max_length=300, blank=True)
    # What the exchange said the account holds at the last reconciliation: currency ->
    # {"free", "used", "total"} as exact decimal strings (currencies held only).
    balances = models.JSONField(default=dict, blank=True)
    balances_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "label"],
                                               name="exchange_account_unique_label")]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange_id}, {self.mode})"

    @property
    def has_credentials(self) -> bool:
        return bool(self.credential_ref)


class PaperBalance(TenantScopedModel):
    """Simulated balance of one currency in a paper account."""

    account = models.ForeignKey(ExchangeAccount, on_delete=models.CASCADE,
                                related_name="paper_balances")
    currency = models.CharField(max_length=16)
    free = money("ledger", default=ZERO)
    used = money("ledger", default=ZERO)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "currency"],
                                               name="paper_balance_unique_currency")]

    def __str__(self) -> str:
        return f"{self.currency} {self.free}"


class Bot(TenantScopedModel):
    """A strategy trading one symbol on one account, advanced by ticks.

    A bot that trades several pairs is a lead bot (its own symbol is the first pair) with one
    pair bot per further pair (`lead` set): each pair keeps its own candle cursor, strategy
    state, position and orders, and the lead's services act on all of them
    (trading.services.bot_pairs)."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    # Not stopped: the engine still follows these (a paused bot syncs its pending orders) and
    # reconciliation still counts their holdings.
    ACTIVE_STATUSES = (Status.RUNNING, Status.PAUSED)

    name = models.CharField(max_length=80)
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="bots")
    symbol = models.CharField(max_length=30)
    timeframe = models.CharField(max_length=8, default="1m")
    strategy = models.CharField(max_length=40)
    parameters = models.JSONField(default=dict, blank=True)
    preset = models.CharField(max_length=20, default="balanced")
    risk = models.JSONField(default=dict, blank=True, help_text="Overrides of the preset.")
    breakers = models.JSONField(default=dict, blank=True,
                                help_text="Circuit-breaker thresholds (defaults apply).")
    # Live-order guards: symbols this bot may trade, and the most one order may be worth.
    allowed_symbols = models.JSONField(default=list, blank=True)
    max_order_value = money("order_value", null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING,
                              db_index=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Engine state.
    last_candle_ts = models.BigIntegerField(null=True, blank=True)
    next_tick_at = models.DateTimeField(default=timezone.now, db_index=True)
    tick_lease_until = models.DateTimeField(null=True, blank=True)
    stale_checks = models.PositiveIntegerField(default=0)
    exchange_errors = models.PositiveIntegerField(default=0)
    capital = money("capital", default=Decimal("1000"),
                    help_text="Quote currency allotted to the bot.")
    realized_pnl = money(default=ZERO)
    peak_equity = money(null=True, blank=True)
    cooldown_until_ts = models.BigIntegerField(null=True, blank=True)
    # Set by a resume: the next tick acts on no candle that closed before it (they closed
    # while the bot was paused); it records that candle as done and clears the marker.
    resume_pending = models.BooleanField(default=False)
    # Set by "close all", cleared once the position is sold or the close is given up: while
    # it is set, the engine's ticks retry the close (trading.engine.closing._close_step).
    close_requested_at = models.DateTimeField(null=True, blank=True)
    # Where a path-dependent strategy (DCA, grid) left its walk after the last tick, so the
    # next tick continues it (Strategy.resume); empty for the others.
    strategy_state = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    # Set on the bots that trade the further pairs of a multi-pair bot: the bot they belong
    # to. Lists, the plan's count and controls go through the lead.
    lead = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="pair_bots")
    # Archived: a stopped, flat bot kept with its trades, orders and thoughts, out of the
    # default lists and the plan's count.
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"],
                                               name="bot_unique_name")]
        indexes = [models.Index(fields=["status", "next_tick_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.symbol} {self.timeframe})"

    @property
    def base_currency(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote_currency(self) -> str:
        return self.symbol.split("/")[1]


class Order(TenantScopedModel):
    """One order, committed as an intent before it is sent (see trading.services.orders)."""

    class Status(models.TextChoices):
        INTENT = "intent", "Intent (not yet sent)"
        UNKNOWN = "unknown", "Sent, answer lost"
        OPEN = "open", "Open"
        CLOSED = "closed", "Filled"
        CANCELED = "canceled", "Canceled"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        # Never sent: it broke the market's lot size, minimum amount or minimum value.
        SKIPPED = "skipped", "Skipped (below the exchange's limits)"

    class Type(models.TextChoices):
        MARKET = "market", "Market"
        LIMIT = "limit", "Limit"
        STOP_LIMIT = "stop_limit", "Stop-loss limit"

    # Orders that rest at the exchange to protect a position (trading.services.protection):
    # they may fill at any time, also while the platform is down, so they never count as a
    # bot's working entry or exit, and every exit cancels them first.
    PROTECTIVE_TYPES = (Type.STOP_LIMIT,)

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="orders")
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="+")
    client_order_id = models.CharField(max_length=36, unique=True)
    exchange_order_id = models.CharField(max_length=64, blank=True, db_index=True)
    symbol = models.CharField(max_length=30)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=10, choices=Type.choices, default=Type.MARKET)
    amount = money("amount")
    price = money("price", null=True, blank=True)
    # On a protective market exit (stop loss / take profit the platform watched) it holds the
    # level that was touched: the paper exchange fills the exit there, as the backtester does.
    stop_price = money("price", null=True, blank=True, help_text="The trigger of a stop order.")
    # What a market order was expected to fill near (its decision candle's close): the
    # pre-send checks value it at this (trading.exchanges.limits); it is never sent.
    expected_price = money("price", null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INTENT,
                              db_index=True)
    filled = money(default=ZERO)
    average = money(null=True, blank=True)
    fee = money(default=ZERO)
    fee_currency = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=30, blank=True, help_text="entry, exit, stop_loss...")
    candle_ts = models.BigIntegerField(help_text="The candle whose close decided this order.")
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Paper: the newest closed candle when the paper exchange accepted the order. It fills
    # only on later candles (a protective exit also on the candle it was checked against, if
    # that is this one or later), never at a price from before it was sent.
    sent_candle_ts = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "bot", "created_at"])]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} {self.symbol} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.INTENT, self.Status.UNKNOWN, self.Status.OPEN)

    @property
    def is_protective(self) -> bool:
        """A stop resting at the exchange for the bot's position, not an entry or exit the
        bot is working (see `PROTECTIVE_TYPES`)."""
        return self.type in self.PROTECTIVE_TYPES


class Fill(TenantScopedModel):
    """An execution reported by the exchange; unique per (account, exchange trade id)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="fills")
    account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, related_name="+")
    trade_id = models.CharField(max_length=64)
    symbol = models.CharField(max_length=30)
    side = models.CharField(max_length=4, choices=Side.choices)
    amount = money("amount")
    price = money("price")
    fee = money(default=ZERO)
    fee_currency = models.CharField(max_length=16, blank=True)
    fee_quote = money(null=True, blank=True, help_text=(
        "The fee's value in the quote currency, as counted in P&L; empty when it was charged "
        "in a third currency (e.g. BNB) with no price to the quote at hand."))
    timestamp_ms = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "trade_id"],
                                               name="fill_unique_exchange_trade")]

    def __str__(self) -> str:
        return f"{self.side} {self.amount} @ {self.price}"


class Position(TenantScopedModel):
    """What a bot holds of its symbol: the sum of its unique fills."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="positions")
    symbol = models.CharField(max_length=30)
    amount = money(default=ZERO)
    average_price = money(default=ZERO)
    entries = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "symbol"],
                                               name="position_unique_per_bot_symbol")]

    def __str__(self) -> str:
        return f"{self.amount} {self.symbol}"

    @property
    def is_open(self) -> bool:
        return self.amount > 0


class Trade(TenantScopedModel):
    """A round trip: entry to exit, with its P&L and why it ended."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="trades")
    symbol = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN,
                              db_index=True)
    amount = money()
    entry_price = money()
    exit_price = money(null=True, blank=True)
    entry_time = models.DateTimeField(db_index=True)
    exit_time = models.DateTimeField(null=True, blank=True)
    closed_amount = money(default=ZERO, help_text="How much of the amount has been sold.")
    fees = money(default=ZERO, help_text="Fees valued in the quote currency; in the P&L.")
    unpriced_fees = models.JSONField(default=dict, blank=True, help_text=(
        "Fees charged in a third currency with no price to the quote, {currency: amount}; "
        "not in fees or P&L."))
    pnl = money(null=True, blank=True)
    pnl_pct = money(null=True, blank=True, max_digits=14, decimal_places=6)
    exit_reason = models.CharField(max_length=30, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "entry_time"])]

    def __str__(self) -> str:
        return f"{self.symbol} {self.amount} ({self.status})"


class ManualOrder(TenantScopedModel):
    """A trader's order by hand (enter now, exit now, cancel a working order), carried out by
    the bot's next tick through the same idempotent order path and risk checks as its own."""

    class Action(models.TextChoices):
        ENTER = "enter", "Enter now"
        EXIT = "exit", "Exit now"
        CANCEL = "cancel", "Cancel an order"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the next tick"
        DONE = "done", "Done"
        REFUSED = "refused", "Refused"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="manual_orders")
    action = models.CharField(max_length=10, choices=Action.choices)
    fraction = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal(1),
                                   help_text="The share of the position an exit sells.")
    # The order to cancel (cancel), or the order the request placed (enter, exit).
    order = models.ForeignKey("Order", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(max_length=300, blank=True)
    requested_by = models.CharField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "bot", "status"])]

    def __str__(self) -> str:
        return f"{self.action} on {self.bot_id} ({self.status})"


class Thought(TenantScopedModel):
    """What a bot saw, decided and why, once per tick (the audit trail of its reasoning)."""

    class Kind(models.TextChoices):
        DECISION = "decision", "Decision"
        RISK = "risk", "Risk"
        BREAKER = "breaker", "Circuit breaker"
        ORDER = "order", "Order"
        CONTROL = "control", "Control"

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="thoughts")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DECISION)
    candle_ts = models.BigIntegerField(null=True, blank=True)
    summary = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "bot", "created_at"])]

    def __str__(self) -> str:
        return self.summary


class EquitySnapshot(TenantScopedModel):
    """A bot's equity (cash + position at market) at one candle."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="equity_snapshots")
    candle_ts = models.BigIntegerField()
    equity = money()
    cash = money()
    position_value = money(default=ZERO)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "candle_ts"],
                                               name="equity_unique_per_candle")]

    def __str__(self) -> str:
        return f"{self.equity} at {self.candle_ts}"


class BacktestRun(TenantScopedModel):
    """A backtest a member asked for: its parameters, progress and report."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    strategy = models.CharField(max_length=40)
    parameters = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="cash, fee, slippage, ...")
    symbol = models.CharField(max_length=30)
    timeframe = models.CharField(max_length=8)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    report = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.strategy} on {self.symbol} ({self.status})"


class BacktestSweep(TenantScopedModel):
    """A parameter sweep a member asked for: the grid, the out-of-sample share, progress and
    the ranked results (trading.core.backtest.walk_forward)."""

    Status = BacktestRun.Status

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    strategy = models.CharField(max_length=40)
    parameters = models.JSONField(default=dict, blank=True,
                                  help_text="values of the parameters not swept")
    grid = models.JSONField(default=dict, help_text="swept parameter -> its values")
    config = models.JSONField(default=dict, blank=True, help_text="cash, fee, slippage, ...")
    symbol = models.CharField(max_length=30)
    timeframe = models.CharField(max_length=8)
    out_of_sample_pct = models.PositiveSmallIntegerField(default=30)
    combinations = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=BacktestRun.Status.choices,
                              default=BacktestRun.Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sweep of {self.strategy} on {self.symbol} ({self.status})"


class MarketFeed(models.Model):
    """Freshness of one shared market-data feed (exchange, symbol, timeframe); not tenant data."""

    exchange_id = models.CharField(max_length=40)
    symbol = models.CharField(max_length=30)
    timeframe = models.CharField(max_length=8)
    last_fetch_at = models.DateTimeField(null=True, blank=True)
    last_candle_ts = models.BigIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    fetch_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exchange_id", "symbol", "timeframe"],
                                               name="market_feed_unique")]

    def __str__(self) -> str:
        return f"{self.exchange_id} {self.symbol} {self.timeframe}"


class SignalHook(TenantScopedModel):
    """A bot's inbound signal webhook (TradingView-style alerts): a public token in the URL
    names the bot, and a secret shown once proves the sender; only its SHA-256 is kept."""

    bot = models.OneToOneField(Bot, on_delete=models.CASCADE, related_name="signal_hook")
    token = models.CharField(max_length=64, unique=True)
    secret_hash = models.CharField(max_length=64)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"signal hook of bot {self.bot_id}"


class SignalAlert(TenantScopedModel):
    """One alert a signal hook received, once per alert id: a repeat changes nothing."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="signal_alerts")
    alert_id = models.CharField(max_length=100)
    action = models.CharField(max_length=10)
    outcome = models.CharField(max_length=300, blank=True)
    manual_order = models.ForeignKey(ManualOrder, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "alert_id"],
                                               name="signal_alert_once_per_bot")]

    def __str__(self) -> str:
        return f"signal {self.alert_id} for bot {self.bot_id}"
