"""Texts the bot sends: plain text (no parse mode), so a bot name can never break formatting.

Pure functions over the selectors' dataclasses: no ORM, no Telegram, easy to read in tests.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from notifications.models import CHANNEL_EVENTS, NotificationChannel
from notifications.selectors import AccountBalance, BotLine, DayDigest, TenantStatus
from trading.core.display import amount_text, grouped, price_text
from trading.core.pnl_periods import PeriodPnl
from trading.models import BacktestSweep, Bot, Order, SignalAlert, Trade

HELP = """aitrader bot — commands
/status — bots, their state, open positions, today's P&L
/balance — balances per account and each bot's equity
/trades [n] — the last n trades (default 5, at most 20)
/daily [n] — profit per day, the last n days (default 7, at most 90)
/weekly [n], /monthly [n] — per week (default 4, at most 52), per month (6, 24)
/pause [bot|all] — pause a bot (trader or above)
/resume [bot|all] — resume a paused bot (trader or above)
/closeall [bot|all] — cancel orders and sell the position, after you confirm (trader or above)
/forceenter <bot> — enter now, sized and checked like a signal (trader or above)
/forceexit <bot> [percent] — sell the position now, or that share of it (trader or above)
/orders <bot> — a bot's working orders, with their ids
/cancel <bot> <order id> — cancel one working order (trader or above)
/sweeps — the latest parameter sweeps and their best combination
/signals [bot] — recent signal-webhook alerts and what became of them
/channels — the outgoing e-mail and webhook channels (read-only)
/checkins on|off|<minutes> — this chat's regular status messages
/help — this list"""

UNLINKED = ("Hello! This chat is not linked to an aitrader workspace, so I cannot help here.\n"
            "A workspace admin can create a link code under Settings → Telegram; "
            "then send /start <code> in this chat.")

STATUS_ICON = {"running": "🟢", "paused": "⏸", "stopped": "⏹"}


def money(value: Decimal | None, quote: str = "") -> str:
    """A signed amount with two decimals (`+12.30 USDT`)."""
    if value is None:
        return "n/a"
    text = f"{value:+,.2f}"
    return f"{text} {quote}".strip()


def amount(value: Decimal) -> str:
    """An asset amount without trailing zeros (0.0125, not 0.012500000000)."""
    text = f"{value.quantize(Decimal('0.00000001')).normalize():f}"
    return text


def bot_line(line: BotLine) -> str:
    """One bot: icon, name, symbol, state, position and P&L."""
    icon = STATUS_ICON.get(line.status, "•")
    parts = [f"{icon} {line.name} · {line.symbol} · {line.status}"]
    if line.status != "running" and line.paused_reason:
        parts.append(f"  reason: {line.paused_reason}")
    if line.position_amount > 0:
        position = f"  position {amount(line.position_amount)} @ {amount(line.position_price)}"
        if line.open_pnl is not None:
            position += f", open {money(line.open_pnl, line.quote)}"
        parts.append(position)
    parts.append(f"  today {money(line.realized_today, line.quote)} realized")
    return "\n".join(parts)


def status(summary: TenantStatus, *, title: str = "Status") -> str:
    """The /status message (and the body of a check-in)."""
    if not summary.bots:
        return f"{title} · {summary.tenant_name}\nNo bots yet."
    counts = ", ".join(f"{summary.count(s)} {s}" for s in ("running", "paused", "stopped")
                       if summary.count(s))
    lines = [f"{title} · {summary.tenant_name}",
             f"{len(summary.bots)} bot{'s' if len(summary.bots) != 1 else ''}: {counts}"]
    lines += [bot_line(line) for line in summary.bots]
    lines.append(f"Today's P&L: {money(summary.realized_today)} realized, "
                 f"{money(summary.open_pnl)} open")
    return "\n".join(lines)


def checkin(summary: TenantStatus, *, now: datetime, interval_minutes: int) -> str:
    """A check-in: the status with the time, and how to change its rhythm."""
    body = status(summary, title=f"Check-in {now:%H:%M} UTC")
    return (f"{body}\nNext check-in in {interval_minutes} min · "
            f"/checkins off to stop, /checkins <minutes> to change.")


def balances(accounts: list[AccountBalance]) -> str:
    """The /balance message."""
    if not accounts:
        return "No exchange accounts yet."
    lines = ["Balances"]
    for account in accounts:
        lines.append(f"{account.label} ({account.mode})")
        for currency, free, used in account.balances:
            held = f", {amount(used)} in orders" if used else ""
            lines.append(f"  {currency}: {amount(free)} free{held}")
        if account.mode == "live":
            lines += _exchange_balances(account)
        for name, equity, quote in account.bots:
            shown = f"{equity:,.2f} {quote}" if equity is not None else "no equity yet"
            lines.append(f"  bot {name}: equity {shown}")
    return "\n".join(lines)


def _exchange_balances(account: AccountBalance) -> list[str]:
    """A live account's balances as its last reconciliation read them, formatted like the
    pages: the quote currency as money, other coins as amounts."""
    if account.held_at is None:
        return ["  exchange balances: not read yet (each reconciliation reads them)"]
    lines = [f"  at {account.exchange_id}, as of {account.held_at:%Y-%m-%d %H:%M} UTC:"
             + ("" if account.held else " nothing held")]
    for row in account.held:
        text = (lambda value: grouped(value, 2)) if row.is_quote else amount_text
        used = f", {text(row.used)} in orders" if row.used else ""
        lines.append(f"  {row.currency}: {text(row.total)}{used}")
    return lines


PERIOD_TITLES = {"day": "Daily", "week": "Weekly", "month": "Monthly"}


def pnl_table(rows: list[PeriodPnl], *, period: str) -> str:
    """The /daily, /weekly and /monthly message: one line per period, newest first."""
    lines = [f"{PERIOD_TITLES[period]} profit (closed trades, market time, UTC)"]
    for row in rows:
        label = row.start.strftime("%b %Y" if period == "month" else "%a %d %b")
        won = f", {row.wins} won" if row.trades else ""
        lines.append(f"{label}: {money(row.pnl)} ({row.trades} trade"
                     f"{'s' if row.trades != 1 else ''}{won})")
    total = sum((row.pnl for row in rows), Decimal("0"))
    lines.append(f"Total: {money(total)}")
    return "\n".join(lines)


def trades(rows: list[Trade], *, asked: int) -> str:
    """The /trades message."""
    if not rows:
        return "No trades yet."
    lines = [f"Last {len(rows)} trade{'s' if len(rows) != 1 else ''}"
             + (f" (of {asked} asked)" if len(rows) < asked else "")]
    for trade in rows:
        when = trade.entry_time.strftime("%m-%d %H:%M")
        if trade.status == Trade.Status.CLOSED:
            result = (f"{amount(trade.entry_price)} → {amount(trade.exit_price or 0)} "
                      f"{money(trade.pnl, trade.symbol.split('/')[-1])}"
                      + (f" ({trade.exit_reason})" if trade.exit_reason else ""))
        else:
            result = f"open @ {amount(trade.entry_price)}"
        lines.append(f"{when} {trade.bot.name} {trade.symbol} {amount(trade.amount)}: {result}")
    return "\n".join(lines)


def working_orders(bot: Bot, orders: list[Order]) -> str:
    """The /orders message: each working order with the id /cancel takes."""
    if not orders:
        return f"{bot.name} has no working orders."
    lines = [f"Working orders of {bot.name}"]
    for order in orders:
        price = f" @ {price_text(order.price)}" if order.price is not None else ""
        lines.append(f"#{order.pk} {order.get_side_display()} {order.get_type_display().lower()} "
                     f"{amount_text(order.amount)} {order.symbol}{price} · "
                     f"{order.get_status_display()}")
    lines.append(f"Cancel one with /cancel {bot.name} <order id>.")
    return "\n".join(lines)


def signed_percent(value: float | Decimal | None) -> str:
    """A return in percent with its sign: "+12.35 %", "−3.20 %"; None -> "n/a"."""
    if value is None:
        return "n/a"
    return f"{'+' if value > 0 else ''}{grouped(value, 2)} %"


def sweeps(rows: list[BacktestSweep]) -> str:
    """The /sweeps message: one line per sweep, newest first."""
    if not rows:
        return "No parameter sweeps yet; start one on the web page (Backtests → Sweeps)."
    return "\n".join(["Parameter sweeps (newest first)"] + [_sweep_line(row) for row in rows])


def _sweep_line(sweep: BacktestSweep) -> str:
    head = f"#{sweep.pk} {sweep.strategy} {sweep.symbol} {sweep.timeframe} · {sweep.status}"
    if sweep.status == BacktestSweep.Status.RUNNING:
        return f"{head} {sweep.progress} %"
    if sweep.status == BacktestSweep.Status.FAILED:
        return f"{head}: {sweep.error}" if sweep.error else head
    if sweep.status != BacktestSweep.Status.DONE:
        return head
    result = sweep.result or {}
    if not result.get("rows"):
        return f"{head} · no valid combination"
    best = result["rows"][0]
    names = result.get("parameters") or list(best["params"])
    params = ", ".join(f"{name} {best['params'].get(name)}" for name in names)
    return (f"{head} · best {params}: in-sample "
            f"{signed_percent(best['in_sample'].get('return_pct'))}, out-of-sample "
            f"{signed_percent(best['out_of_sample'].get('return_pct'))}")


def signal_alerts(rows: list[tuple[Bot, SignalAlert]], *, bot: Bot | None = None,
                  hook_on: bool = False) -> str:
    """The /signals message: the workspace's (or one bot's) latest alerts, newest first.
    Never the hook's token or secret: only what an alert asked and what became of it."""
    hook = f" · webhook {'on' if hook_on else 'off'}" if bot is not None else ""
    if not rows:
        return f"No signal alerts for {bot.name} yet{hook}." if bot is not None else \
            "No signal alerts yet; enable a bot's signal webhook on its page."
    title = f"Signal alerts of {bot.name}" if bot is not None else "Signal alerts"
    lines = [f"{title} (newest first, UTC){hook}"]
    for alert_bot, alert in rows:
        lines.append(f"{alert.received_at:%m-%d %H:%M} {alert_bot.name} {alert.action}: "
                     f"{alert.outcome or 'being carried out'}")
    return "\n".join(lines)


def masked_destination(channel: NotificationChannel) -> str:
    """Where a channel sends, safe for a chat: a webhook's host only (its URL works as a
    credential), an e-mail address with its local part hidden but the first letter."""
    if channel.kind == NotificationChannel.Kind.WEBHOOK:
        return channel.display_target  # the host only: the URL itself is in the vault
    local, _, domain = channel.target.partition("@")
    return f"{local[:1]}***@{domain}"


def outgoing_channels(rows: list[NotificationChannel]) -> str:
    """The /channels message: kind, masked destination and the event switches that are on."""
    where = "Settings → Telegram → Channels on the web page"
    if not rows:
        return f"No outgoing channels yet; an admin adds e-mail or webhook channels under {where}."
    lines = [f"Outgoing channels (read-only here; change them under {where})"]
    for channel in rows:
        events = ", ".join(event.replace("_", " ") for event in CHANNEL_EVENTS
                           if channel.wants(event)) or "no events"
        off = " (off)" if not channel.active else ""
        lines.append(f"{channel.get_kind_display()} · {masked_destination(channel)} · "
                     f"{events}{off}")
    return "\n".join(lines)


def alert_auto_pause(*, bot_name: str, symbol: str, reason: str) -> str:
    """A circuit breaker paused a bot."""
    return (f"⚠️ Bot {bot_name} ({symbol}) was paused automatically.\nReason: {reason}\n"
            f"It keeps its position and places nothing. /resume {bot_name} once resolved.")


def alert_order_failed(*, bot_name: str, symbol: str, side: str, error: str) -> str:
    """An order was rejected or failed."""
    what = f"A {side} order" if side else "An order"
    return f"❗ {what} of bot {bot_name} ({symbol}) failed.\nError: {error}"


def alert_drift(*, bot_name: str, summary: str) -> str:
    """Reconciliation found the exchange and the ledger disagree."""
    return f"⚠️ Reconciliation drift on bot {bot_name}: {summary}\nThe bot was stopped safely."


def alert_plan_changed(*, old_plan: str, new_plan: str, reason: str) -> str:
    """The workspace's plan changed; says what happens to live bots when it loses them."""
    return (f"💳 The workspace moved from the {old_plan} plan to the {new_plan} plan "
            f"({reason}). Bots the new plan does not allow were paused with the reason; "
            f"nothing was sold.")


def alert_vault(*, name: str | None, reason: str) -> str:
    """A vault entry could not be opened (never carries the secret)."""
    what = f"the secret '{name}'" if name else "the workspace's data key"
    return (f"🔐 The vault could not open {what}: {reason}.\n"
            f"Bots that need it cannot trade until an admin fixes the credentials.")


# --- Outgoing channels (e-mail, webhooks) ---------------------------------------------------


def trade_entry(*, bot_name: str, symbol: str, amount_text: str, price_text: str) -> str:
    """A bot opened a trade."""
    return f"🟢 Entry · {bot_name} · {symbol}\nBought {amount_text} @ {price_text}"


def trade_exit(*, bot_name: str, symbol: str, amount_text: str, price_text: str,
               pnl: Decimal | None, quote: str, reason: str) -> str:
    """A bot closed a trade, with its realized P&L and why it exited."""
    because = f" ({reason})" if reason else ""
    return (f"🔴 Exit · {bot_name} · {symbol}\nSold {amount_text} @ {price_text}{because}\n"
            f"P&L {money(pnl, quote)}")


def daily_digest(digest: DayDigest) -> str:
    """The daily digest: each bot's realized P&L of one UTC day and the total."""
    lines = [f"Daily digest · {digest.tenant_name} · {digest.day.isoformat()} (UTC)"]
    if not digest.bots:
        lines.append("No bots yet.")
    for bot in digest.bots:
        trades_text = f"{bot.trades} trade{'s' if bot.trades != 1 else ''}"
        lines.append(f"{STATUS_ICON.get(bot.status, '•')} {bot.name} · {bot.symbol}: "
                     f"{money(bot.realized, bot.quote)} ({trades_text})")
    lines.append(f"Total realized: {money(digest.total)}")
    return "\n".join(lines)


EMAIL_FOOTER = ("\n\n—\nYou get this because an admin of {tenant} added this address under "
                "Settings → Telegram → Channels; they can switch it off there.")


def channel_email_body(*, text: str, tenant_name: str) -> str:
    """The plain-text body of a channel e-mail: the message and where to switch it off."""
    return text + EMAIL_FOOTER.format(tenant=tenant_name)
