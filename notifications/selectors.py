"""Reads of the notifications app: links, settings, due work, and what a chat is shown.

Tenant data is read through `for_tenant` and the trading selectors. The few platform-level
reads (a chat id, due check-ins, due deliveries) yield ids or a single row found by a
credential-like key, the way an API key is found by its prefix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from aitrader.errors import NotFound
from notifications.models import (
    CHANNEL_EVENTS,
    ChannelDelivery,
    NotificationChannel,
    NotificationSettings,
    TelegramDelivery,
    TelegramLink,
)
from tenants.models import Membership, Tenant
from tenants.selectors import membership_list
from trading import selectors as trading_selectors
from trading.core.pnl import open_pnl
from trading.core.pnl_periods import PeriodPnl
from trading.fields import MoneySum
from trading.models import Bot, Trade, TradingMode

ZERO = Decimal("0")


def link_list(*, tenant: Tenant | int) -> QuerySet[TelegramLink]:
    """The tenant's active linked chats with their members, oldest first."""
    return (TelegramLink.objects.for_tenant(tenant).filter(active=True)
            .select_related("user", "created_by").order_by("created_at", "id"))


def link_get(*, tenant: Tenant | int, link_id: int) -> TelegramLink:
    """One active link of the tenant; NotFound for a missing, inactive or foreign id."""
    link = link_list(tenant=tenant).filter(pk=link_id).first()
    if link is None:
        raise NotFound("No such linked chat.")
    return link


def link_get_by_chat(*, chat_id: int) -> TelegramLink | None:
    """The active link of a chat, whichever tenant it belongs to (the chat is the key)."""
    links = TelegramLink.objects.all_tenants(reason="a Telegram update names only its chat")
    return (links.filter(chat_id=chat_id, active=True)
            .select_related("tenant", "user").first())


def link_membership(*, link: TelegramLink) -> Membership | None:
    """The linked member's membership now (None once they left the tenant)."""
    return membership_list(tenant=link.tenant_id).filter(user_id=link.user_id).first()


def link_ids_for_alerts(*, tenant: Tenant | int) -> list[int]:
    """Ids of the tenant's active links, which every alert goes to."""
    return list(link_list(tenant=tenant).values_list("id", flat=True))


def links_due_for_checkin(*, now: datetime, limit: int = 500) -> list[int]:
    """Ids of active links with check-ins on whose next check-in is due (or never happened).

    Platform-level on purpose (the beat task serves every tenant); it returns ids only, and
    each claim re-reads its link.
    """
    links = TelegramLink.objects.all_tenants(reason="the check-in beat serves every tenant")
    return list(links.filter(
        Q(next_checkin_at__isnull=True) | Q(next_checkin_at__lte=now),
        active=True, checkins_enabled=True, tenant__status=Tenant.Status.ACTIVE,
    ).order_by("next_checkin_at", "id").values_list("id", flat=True)[:limit])


def link_for_claim(*, link_id: int) -> TelegramLink | None:
    """A link about to be claimed for a check-in, with its tenant and member."""
    links = TelegramLink.objects.all_tenants(reason="a check-in task carries only the link id")
    return (links.filter(pk=link_id, active=True, checkins_enabled=True)
            .select_related("tenant", "user").first())


def notification_settings_get(*, tenant: Tenant | int) -> NotificationSettings:
    """The tenant's alert switches (an unsaved all-on default before the first change)."""
    found = NotificationSettings.objects.for_tenant(tenant).first()
    if found is not None:
        return found
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    return NotificationSettings(tenant_id=tenant_id)


def delivery_get(*, delivery_id: int) -> TelegramDelivery | None:
    """A delivery with its link and tenant (tasks carry only the id)."""
    deliveries = TelegramDelivery.objects.all_tenants(reason="a delivery task carries only "
                                                              "its id")
    return (deliveries.filter(pk=delivery_id)
            .select_related("link", "link__tenant").first())


def deliveries_due_for_retry(*, now: datetime, grace: timedelta,
                             limit: int = 500) -> list[int]:
    """Pending deliveries whose retry time passed `grace` ago (their own retry did not come)."""
    deliveries = TelegramDelivery.objects.all_tenants(reason="the retry sweep serves every "
                                                              "tenant")
    return list(deliveries.filter(
        status=TelegramDelivery.Status.PENDING, next_attempt_at__lte=now - grace,
    ).order_by("next_attempt_at").values_list("id", flat=True)[:limit])


def delivery_list(*, tenant: Tenant | int) -> QuerySet[TelegramDelivery]:
    """The tenant's outbound messages, newest first."""
    return (TelegramDelivery.objects.for_tenant(tenant).select_related("link")
            .order_by("-created_at", "-id"))


# --- What a chat is shown ---------------------------------------------------------------------


@dataclass(frozen=True)
class BotLine:
    """One bot in a status message."""

    id: int
    name: str
    symbol: str
    status: str
    paused_reason: str
    position_amount: Decimal
    position_price: Decimal
    open_pnl: Decimal | None
    realized_today: Decimal
    quote: str


@dataclass(frozen=True)
class TenantStatus:
    """A tenant's bots and today's P&L, as /status and check-ins render it."""

    tenant_name: str
    bots: list[BotLine] = field(default_factory=list)

    @property
    def realized_today(self) -> Decimal:
        return sum((b.realized_today for b in self.bots), ZERO)

    @property
    def open_pnl(self) -> Decimal:
        return sum((b.open_pnl or ZERO for b in self.bots), ZERO)

    def count(self, status: str) -> int:
        return sum(1 for b in self.bots if b.status == status)


def tenant_status(*, tenant: Tenant, now: datetime) -> TenantStatus:
    """Bots with status, open position and P&L (realized since 00:00 UTC, open at last mark)."""
    bots = list(trading_selectors.bot_list_current(tenant=tenant))
    positions = {p.bot_id: p for p in trading_selectors.position_list(tenant=tenant)}
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    realized = dict(trading_selectors.trade_list(tenant=tenant).filter(
        status=Trade.Status.CLOSED, exit_time__gte=day_start).order_by()
        .values_list("bot_id").annotate(total=MoneySum("pnl")))
    lines = [_bot_line(bot, positions.get(bot.pk), realized.get(bot.pk) or ZERO)
             for bot in bots]
    return TenantStatus(tenant_name=tenant.name, bots=lines)


def _bot_line(bot: Bot, position, realized_today: Decimal) -> BotLine:
    amount = position.amount if position is not None else ZERO
    price = position.average_price if position is not None else ZERO
    latest = trading_selectors.equity_latest_for_bot(bot=bot) if amount > 0 else None
    marked = open_pnl(amount=amount, average_price=price,
                      position_value=latest.position_value if latest is not None else None)
    return BotLine(id=bot.pk, name=bot.name, symbol=bot.symbol, status=bot.status,
                   paused_reason=bot.paused_reason, position_amount=amount,
                   position_price=price, open_pnl=marked, realized_today=realized_today,
                   quote=bot.quote_currency)


@dataclass(frozen=True)
class AccountBalance:
    """One exchange account's balances as /balance shows them."""

    label: str
    mode: str
    balances: list[tuple[str, Decimal, Decimal]]  # currency, free, used
    bots: list[tuple[str, Decimal | None, str]]  # bot name, latest equity, quote currency
    # A live account: what its last reconciliation read at the exchange, and when (None: not
    # read yet).
    exchange_id: str = ""
    held: list[trading_selectors.AccountBalance] = field(default_factory=list)
    held_at: datetime | None = None


def tenant_balances(*, tenant: Tenant) -> list[AccountBalance]:
    """Per account: paper balances, a live account's exchange balances as its last
    reconciliation kept them, and each bot's equity."""
    bots_by_account: dict[int, list[Bot]] = {}
    for bot in trading_selectors.bot_list(tenant=tenant):
        bots_by_account.setdefault(bot.account_id, []).append(bot)
    result = []
    for account in trading_selectors.exchange_account_list(tenant=tenant):
        rows = trading_selectors.paper_balances(account=account)
        balances = [(currency, row.free, row.used) for currency, row in sorted(rows.items())]
        bots = [(bot.name, _latest_equity(bot), bot.quote_currency)
                for bot in bots_by_account.get(account.pk, [])]
        live = account.mode == TradingMode.LIVE
        result.append(AccountBalance(
            label=account.label, mode=account.mode, balances=balances, bots=bots,
            exchange_id=account.exchange_id,
            held=trading_selectors.account_balances(account=account) if live else [],
            held_at=account.balances_at if live else None))
    return result


def _latest_equity(bot: Bot) -> Decimal | None:
    latest = trading_selectors.equity_latest_for_bot(bot=bot)
    return latest.equity if latest is not None else None


def tenant_pnl_table(*, tenant: Tenant, period: str, count: int) -> list[PeriodPnl]:
    """The workspace's closed-trade P&L per period, on its markets' clock: 'today' is the day
    of its bots' newest candle (replayed markets run on their own dates)."""
    newest = (trading_selectors.bot_list_current(tenant=tenant)
              .filter(last_candle_ts__isnull=False).order_by("-last_candle_ts").first())
    today = trading_selectors.bot_market_today(bot=newest) if newest else \
        timezone.now().date()
    return trading_selectors.pnl_table(tenant=tenant, period=period, count=count, today=today)


def recent_trades(*, tenant: Tenant, limit: int) -> list[Trade]:
    """The tenant's latest `limit` trades (round trips) with their bots."""
    return list(trading_selectors.trade_list(tenant=tenant)[:limit])


def bot_find(*, tenant: Tenant, name: str) -> Bot:
    """A bot by name (case-insensitive) or by its numeric id; NotFound otherwise."""
    name = name.strip()
    if name.isdigit():
        bot = trading_selectors.bot_list(tenant=tenant).filter(pk=int(name)).first()
        if bot is not None:
            return bot
    return trading_selectors.bot_get_by_name(tenant=tenant, name=name)


def bot_names(*, tenant: Tenant) -> list[str]:
    """Names of the tenant's bots (to suggest when a command needs one)."""
    return list(trading_selectors.bot_list(tenant=tenant).values_list("name", flat=True))


def bot_get(*, tenant: Tenant | int, bot_id: int) -> Bot:
    """One bot of the tenant; NotFound for a missing or foreign id."""
    return trading_selectors.bot_get(tenant=tenant, bot_id=bot_id)


def bot_ids(*, tenant: Tenant, status: str | None = None) -> list[int]:
    """Ids of the tenant's bots, optionally only those in `status`."""
    bots = trading_selectors.bot_list(tenant=tenant)
    if status is not None:
        bots = bots.filter(status=status)
    return list(bots.values_list("id", flat=True))


# --- Outgoing channels (e-mail, webhooks) ---------------------------------------------------


def channel_list(*, tenant: Tenant | int) -> QuerySet[NotificationChannel]:
    """The tenant's outgoing channels, oldest first."""
    return NotificationChannel.objects.for_tenant(tenant).order_by("created_at", "id")


def channel_list_wanting(*, tenant: Tenant | int, event: str) -> list[NotificationChannel]:
    """The tenant's active channels whose switch for `event` is on."""
    if event not in CHANNEL_EVENTS:
        return []
    return list(channel_list(tenant=tenant).filter(active=True, **{event: True}))


def channels_due_for_digest(*, dedup_key: str, created_before: datetime,
                            limit: int = 1000) -> list[NotificationChannel]:
    """Active digest channels of active tenants that have no delivery `dedup_key` yet and
    existed before the day ended (a new channel starts with the next day), by tenant.

    Platform-level on purpose (the digest beat serves every tenant); the digest itself is
    read per tenant through for_tenant."""
    channels = NotificationChannel.objects.all_tenants(reason="the digest beat serves every "
                                                              "tenant")
    return list(channels.filter(
        active=True, daily_digest=True, created_at__lt=created_before,
        tenant__status=Tenant.Status.ACTIVE,
    ).exclude(deliveries__dedup_key=dedup_key).select_related("tenant")
        .order_by("tenant_id", "id")[:limit])


def channel_delivery_get(*, delivery_id: int) -> ChannelDelivery | None:
    """A channel delivery with its channel and tenant (tasks carry only the id)."""
    deliveries = ChannelDelivery.objects.all_tenants(reason="a delivery task carries only its "
                                                            "id")
    return deliveries.filter(pk=delivery_id).select_related("channel", "tenant").first()


def channel_deliveries_due_for_retry(*, now: datetime, grace: timedelta,
                                     limit: int = 500) -> list[int]:
    """Pending channel deliveries whose retry time passed `grace` ago."""
    deliveries = ChannelDelivery.objects.all_tenants(reason="the retry sweep serves every "
                                                            "tenant")
    return list(deliveries.filter(
        status=ChannelDelivery.Status.PENDING, next_attempt_at__lte=now - grace,
    ).order_by("next_attempt_at").values_list("id", flat=True)[:limit])


@dataclass(frozen=True)
class DigestBot:
    """One bot in a daily digest: its closed trades and realized P&L of the day."""

    id: int
    name: str
    symbol: str
    status: str
    trades: int
    realized: Decimal
    quote: str


@dataclass(frozen=True)
class DayDigest:
    """A tenant's day: each current bot's realized P&L over one UTC day."""

    tenant_name: str
    day: date
    bots: list[DigestBot] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((b.realized for b in self.bots), ZERO)


def tenant_day_digest(*, tenant: Tenant, day: date) -> DayDigest:
    """Realized P&L and closed trades per current bot for the UTC day `day` (exit time in
    [00:00, 24:00) UTC), exact Decimal sums."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    closed = (trading_selectors.trade_list(tenant=tenant).filter(
        status=Trade.Status.CLOSED, exit_time__gte=start, exit_time__lt=start + timedelta(days=1))
        .order_by().values("bot_id").annotate(total=MoneySum("pnl"), count=Count("id")))
    by_bot = {row["bot_id"]: row for row in closed}
    bots = [DigestBot(id=bot.pk, name=bot.name, symbol=bot.symbol, status=bot.status,
                      trades=by_bot.get(bot.pk, {}).get("count", 0),
                      realized=by_bot.get(bot.pk, {}).get("total") or ZERO,
                      quote=bot.quote_currency)
            for bot in trading_selectors.bot_list_current(tenant=tenant)]
    return DayDigest(tenant_name=tenant.name, day=day, bots=bots)
