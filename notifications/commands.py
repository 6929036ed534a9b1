"""What the Telegram bot answers: one sync function per command, called by the PTB handlers.

Handlers (notifications.handlers) only turn an Update into an `Incoming` and send back the
`Reply`. Here the chat is resolved to its link, the linked member's role is read *now* (so a
demoted member loses control at once), and control goes through the very services the API
uses (`bot_pause`, `bot_resume`, `bot_close_all`, `manual_order_request`), which check the
role and write the audit row. The trader's tools (/orders, /cancel, /sweeps, /signals,
/channels) read through the selectors the pages use; /cancel is the manual order service's
cancel, so it checks exactly what the bot page's Cancel button checks.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils import timezone

from aitrader.errors import Conflict, ServiceError
from notifications import messages, selectors, services
from notifications.models import TelegramLink
from tenants.actors import Actor
from tenants.models import Scope
from trading import selectors as trading_selectors
from trading.core.backtest.config import as_percent
from trading.core.display import amount_text
from trading.core.money import EXIT_FRACTION, as_decimal
from trading.core.pnl_periods import MAX_PERIODS
from trading.models import Bot, ManualOrder
from trading.services.bots import bot_close_all, bot_pause, bot_resume
from trading.services.manual import WORDS, manual_order_request

TRADES_DEFAULT = 5
TRADES_MAX = 20
SWEEPS_SHOWN = 5
SIGNALS_SHOWN = 10
ORDER_ID_MAX = 2**63 - 1  # the id column's range: a longer number names no order
CANCEL_USAGE = "Usage: /cancel <bot> <order id>; /orders {bot} lists {whose} working orders."
CONFIRM_SECONDS = 300  # a /closeall button older than this is refused
CANCEL = "cx"
# /forceexit asks in percent: the manual exit's own share bounds (0.01–1), times 100.
EXIT_PERCENT = as_percent(EXIT_FRACTION)


@dataclass(frozen=True)
class Incoming:
    """A command as the handler parsed it."""

    chat_id: int
    command: str
    args: tuple[str, ...] = ()
    chat_type: str = "private"
    chat_title: str = ""
    user_id: int | None = None
    username: str = ""


@dataclass(frozen=True)
class Reply:
    """What to send back: text, and optionally rows of inline buttons (label, data)."""

    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """A linked chat and its member as they are at this moment."""

    link: TelegramLink
    actor: Actor
    incoming_user_id: int | None

    @property
    def tenant(self):
        return self.link.tenant


def handle_command(incoming: Incoming) -> Reply | None:
    """Answer one command; unknown chats get the polite refusal and nothing else."""
    if incoming.command == "start" and incoming.args:
        return _start(incoming)
    context = _context(incoming.chat_id, incoming.user_id)
    if isinstance(context, Reply):
        return context
    handler = COMMANDS.get(incoming.command)
    if handler is None:
        return Reply(f"I don't know /{incoming.command}. Send /help for the list.")
    try:
        return handler(context, list(incoming.args))
    except ServiceError as exc:
        return Reply(exc.message)


def handle_text(chat_id: int, chat_type: str) -> Reply | None:
    """A plain message in a private chat: a hint (linked) or the refusal (unknown)."""
    if chat_type != "private":
        return None
    if selectors.link_get_by_chat(chat_id=chat_id) is None:
        return Reply(messages.UNLINKED)
    return Reply("Send /help to see what I can do.")


def _context(chat_id: int, user_id: int | None) -> Context | Reply:
    link = selectors.link_get_by_chat(chat_id=chat_id)
    if link is None:
        return Reply(messages.UNLINKED)
    if not link.tenant.is_active:
        return Reply("This workspace is suspended; contact support.")
    membership = selectors.link_membership(link=link)
    if membership is None:
        services.link_deactivate(link_id=link.pk, reason="member left the workspace")
        return Reply(messages.UNLINKED)
    return Context(link=link, actor=Actor.for_member(membership, via="telegram"),
                   incoming_user_id=user_id)


def _start(incoming: Incoming) -> Reply:
    chat = services.ChatInfo(chat_id=incoming.chat_id, chat_type=incoming.chat_type,
                             title=incoming.chat_title, telegram_user_id=incoming.user_id,
                             telegram_username=incoming.username)
    try:
        link = services.link_redeem(code=incoming.args[0], chat=chat)
    except ServiceError as exc:
        return Reply(exc.message)
    return Reply(f"Linked to {link.tenant.name} as {link.user.email}. "
                 f"You will get a check-in every {services.link_interval(link)} minutes and "
                 f"alerts when something needs you.\n\n{messages.HELP}")


# --- Read commands -----------------------------------------------------------------------------


def _help(context: Context, args: list[str]) -> Reply:
    return Reply(messages.HELP)


def _start_linked(context: Context, args: list[str]) -> Reply:
    return Reply(f"This chat is linked to {context.tenant.name}.\n\n{messages.HELP}")


def _status(context: Context, args: list[str]) -> Reply:
    summary = selectors.tenant_status(tenant=context.tenant, now=timezone.now())
    return Reply(messages.status(summary))


def _balance(context: Context, args: list[str]) -> Reply:
    return Reply(messages.balances(selectors.tenant_balances(tenant=context.tenant)))


def _trades(context: Context, args: list[str]) -> Reply:
    count = TRADES_DEFAULT
    if args:
        if not args[0].isdigit() or not 1 <= int(args[0]) <= TRADES_MAX:
            return Reply(f"Usage: /trades [n], with n from 1 to {TRADES_MAX}.")
        count = int(args[0])
    rows = selectors.recent_trades(tenant=context.tenant, limit=count)
    return Reply(messages.trades(rows, asked=count))


def _pnl_command(period: str, default: int) -> Callable[[Context, list[str]], Reply]:
    """/daily, /weekly, /monthly [n]: the workspace's P&L for the last n periods."""
    maximum = MAX_PERIODS[period]

    def command(context: Context, args: list[str]) -> Reply:
        count = default
        if args:
            if not args[0].isdigit() or not 1 <= int(args[0]) <= maximum:
                return Reply(f"Usage: /{PERIOD_COMMANDS[period]} [n], with n from 1 to "
                             f"{maximum}.")
            count = int(args[0])
        rows = selectors.tenant_pnl_table(tenant=context.tenant, period=period, count=count)
        return Reply(messages.pnl_table(rows, period=period))
    return command


PERIOD_COMMANDS = {"day": "daily", "week": "weekly", "month": "monthly"}


def _checkins(context: Context, args: list[str]) -> Reply:
    link = context.link
    if not args:
        state = (f"on, every {services.link_interval(link)} minutes" if link.checkins_enabled
                 else "off")
        return Reply(f"Check-ins are {state}. Use /checkins on, /checkins off or "
                     f"/checkins <minutes>.")
    word = args[0].lower()
    if word in ("on", "off"):
        link = services.link_set_checkins(tenant=context.tenant, actor=context.actor,
                                          link_id=link.pk, enabled=word == "on")
    elif word.isdigit():
        link = services.link_set_checkins(tenant=context.tenant, actor=context.actor,
                                          link_id=link.pk, interval_minutes=int(word))
    else:
        return Reply("Usage: /checkins on, /checkins off or /checkins <minutes>.")
    if not link.checkins_enabled:
        return Reply("Check-ins are off for this chat. Alerts still come through.")
    return Reply(f"Check-ins are on, every {services.link_interval(link)} minutes.")


def _orders(context: Context, args: list[str]) -> Reply:
    bots = _targets(context, args, "orders", allow_all=False)
    if isinstance(bots, Reply):
        return bots
    orders = list(trading_selectors.order_pending_for_bot(bot=bots[0]))
    return Reply(messages.working_orders(bots[0], orders))


def _sweeps(context: Context, args: list[str]) -> Reply:
    rows = list(trading_selectors.sweep_list(tenant=context.tenant)[:SWEEPS_SHOWN])
    return Reply(messages.sweeps(rows))


def _signals(context: Context, args: list[str]) -> Reply:
    name = " ".join(args).strip()
    if name:
        bot = selectors.bot_find(tenant=context.tenant, name=name)
        rows = [(bot, alert) for alert in
                trading_selectors.signal_alert_list(bot=bot, limit=SIGNALS_SHOWN)]
        hook_on = trading_selectors.signal_hook_for_bot(bot=bot) is not None
        return Reply(messages.signal_alerts(rows, bot=bot, hook_on=hook_on))
    rows = [(alert.bot, alert) for alert in trading_selectors.signal_alert_list_recent(
        tenant=context.tenant, limit=SIGNALS_SHOWN)]
    return Reply(messages.signal_alerts(rows))


def _channels(context: Context, args: list[str]) -> Reply:
    return Reply(messages.outgoing_channels(list(selectors.channel_list(tenant=context.tenant))))


# --- Control commands --------------------------------------------------------------------------


def _may_control(context: Context) -> Reply | None:
    """Refusal text unless the member may control bots *now* from this Telegram account."""
    if not context.actor.can(Scope.CONTROL):
        return Reply(f"Your role ({context.actor.role}) can read but not control bots; "
                     f"it needs trader or above.")
    expected = context.link.telegram_user_id
    if expected is not None and context.incoming_user_id != expected:
        return Reply("Only the Telegram account that linked this chat can control bots here.")
    return None


def _targets(context: Context, args: list[str], verb: str, *,
             allow_all: bool = True) -> list[Bot] | Reply:
    name = " ".join(args).strip()
    if name.lower() == "all":
        if not allow_all:
            return Reply(f"One bot at a time: /{verb} <bot>.")
        return list(_all_bots(context))
    if name:
        return [selectors.bot_find(tenant=context.tenant, name=name)]
    names = selectors.bot_names(tenant=context.tenant)
    if len(names) == 1:
        return [selectors.bot_find(tenant=context.tenant, name=names[0])]
    if not names:
        return Reply("There are no bots in this workspace.")
    either = f" or /{verb} all" if allow_all else ""
    return Reply(f"Which bot? /{verb} <name>{either}. Bots: {', '.join(names)}")


def _all_bots(context: Context) -> list[Bot]:
    return [selectors.bot_get(tenant=context.tenant, bot_id=i)
            for i in selectors.bot_ids(tenant=context.tenant)]


def _control(verb: str, service: Callable, done: str) -> Callable[[Context, list[str]], Reply]:
    def command(context: Context, args: list[str]) -> Reply:
        refusal = _may_control(context)
        if refusal is not None:
            return refusal
        bots = _targets(context, args, verb)
        if isinstance(bots, Reply):
            return bots
        lines = []
        for bot in bots:
            service(tenant=context.tenant, actor=context.actor, bot_id=bot.pk)
            lines.append(f"{bot.name}: {done}.")
        return Reply("\n".join(lines) or "No bots to act on.")

    return command


def _manual(verb: str, action: str) -> Callable[[Context, list[str]], Reply]:
    """/forceenter <bot> and /forceexit <bot> [percent]: one bot's manual order, queued for
    its next tick by the service the bot page and the API use (its refusals pass through)."""
    def command(context: Context, args: list[str]) -> Reply:
        refusal = _may_control(context)
        if refusal is not None:
            return refusal
        fraction = None
        if action == ManualOrder.Action.EXIT and len(args) > 1:
            # The last word is the percent: a bot whose name has spaces needs one, or its id.
            percent, args = args[-1].removesuffix("%"), args[:-1]
            problem = EXIT_PERCENT.problem(percent)
            if problem is not None:
                return Reply(f"{problem} Usage: /{verb} <bot> [percent], the percent "
                             f"{EXIT_PERCENT.describe()}; without it, all.")
            fraction = as_decimal(percent) / 100
        bots = _targets(context, args, verb, allow_all=False)
        if isinstance(bots, Reply):
            return bots
        request = manual_order_request(tenant=context.tenant, actor=context.actor,
                                       bot_id=bots[0].pk, action=action, fraction=fraction)
        share = f" ({amount_text(request.fraction * 100)} %)" if request.fraction < 1 else ""
        return Reply(f"Asked {bots[0].name} to {WORDS[action]}{share}: the next tick carries "
                     f"it out.")

    return command


def _order_id(word: str) -> int | None:
    """The order id of "/cancel <bot> 42" (or "#42"); None unless it can name an order."""
    word = word.removeprefix("#")
    if not word.isdigit() or len(word) > len(str(ORDER_ID_MAX)):
        return None
    number = int(word)
    return number if 1 <= number <= ORDER_ID_MAX else None


def _cancel(context: Context, args: list[str]) -> Reply:
    """/cancel <bot> <order id>: ask the bot's next tick to cancel that working order."""
    refusal = _may_control(context)
    if refusal is not None:
        return refusal
    order_id = _order_id(args[-1]) if len(args) > 1 else None
    if order_id is None:
        return Reply("Which order? " + CANCEL_USAGE.format(bot="<bot>", whose="a bot's"))
    bots = _targets(context, args[:-1], "cancel", allow_all=False)
    if isinstance(bots, Reply):
        return bots
    bot = bots[0]
    try:
        manual_order_request(tenant=context.tenant, actor=context.actor, bot_id=bot.pk,
                             action=ManualOrder.Action.CANCEL, order_id=order_id)
    except Conflict as exc:  # not its working order, or the bot is busy: say how to find one
        return Reply(f"{exc.message} " + CANCEL_USAGE.format(bot=bot.name, whose="its"))
    return Reply(f"Asked {bot.name} to cancel order #{order_id}: the next tick carries it "
                 f"out.")


def _closeall(context: Context, args: list[str]) -> Reply:
    refusal = _may_control(context)
    if refusal is not None:
        return refusal
    bots = _targets(context, args, "closeall")
    if isinstance(bots, Reply):
        return bots
    target = "all" if " ".join(args).strip().lower() == "all" else str(bots[0].pk)
    what = "every bot" if target == "all" else f"bot {bots[0].name}"
    return Reply(f"Close all for {what}? This pauses it, cancels its open orders and sells "
                 f"its position at the market.",
                 buttons=[[(f"Yes, close {('all' if target == 'all' else bots[0].name)}"[:60],
                            f"ca:{target}:{int(time.time())}"), ("Cancel", CANCEL)]])


def handle_callback(chat_id: int, user_id: int | None, data: str) -> Reply:
    """A pressed inline button: confirm or cancel /closeall, re-checking everything now."""
    if data == CANCEL:
        return Reply("Cancelled; nothing was changed.")
    context = _context(chat_id, user_id)
    if isinstance(context, Reply):
        return context
    parts = data.split(":")
    if len(parts) != 3 or parts[0] != "ca" or not parts[2].isdigit():
        return Reply("That button is no longer valid.")
    if time.time() - int(parts[2]) > CONFIRM_SECONDS:
        return Reply("That confirmation expired; send /closeall again.")
    refusal = _may_control(context)
    if refusal is not None:
        return refusal
    try:
        bots = _all_bots(context) if parts[1] == "all" else \
            [selectors.bot_get(tenant=context.tenant, bot_id=int(parts[1]))]
        for bot in bots:
            bot_close_all(tenant=context.tenant, actor=context.actor, bot_id=bot.pk)
    except (ServiceError, ValueError) as exc:
        return Reply(getattr(exc, "message", "That button is no longer valid."))
    names = ", ".join(bot.name for bot in bots) or "no bots"
    return Reply(f"Closing all for {names}: paused; cancelling orders and selling the "
                 f"position, retried until it is sold.")


COMMANDS: dict[str, Callable[[Context, list[str]], Reply]] = {
    "start": _start_linked,
    "help": _help,
    "status": _status,
    "balance": _balance,
    "trades": _trades,
    "daily": _pnl_command("day", 7),
    "weekly": _pnl_command("week", 4),
    "monthly": _pnl_command("month", 6),
    "pause": _control("pause", bot_pause, "paused"),
    "resume": _control("resume", bot_resume, "resumed"),
    "closeall": _closeall,
    "forceenter": _manual("forceenter", ManualOrder.Action.ENTER),
    "forceexit": _manual("forceexit", ManualOrder.Action.EXIT),
    "orders": _orders,
    "cancel": _cancel,
    "sweeps": _sweeps,
    "signals": _signals,
    "channels": _channels,
    "checkins": _checkins,
}
