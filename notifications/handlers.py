"""The python-telegram-bot layer: turn Updates into `commands` calls and send the replies.

Handlers are thin and async; the work runs in `commands` through `sync_to_async`. Entry points
are sync so tasks, views and management commands can call them: `process_update` (webhook:
one Update as JSON) and `poll` (getUpdates until stopped, for development).

Both run their event loop under `async_to_sync`, so the ORM work of the handlers happens on
the calling thread (asgiref sends thread-sensitive calls back to it).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from notifications import commands
from notifications.transport import (
    READ_TIMEOUT,
    inline_markup,
    make_request,
    redact,
    require_configured,
    retry_after_seconds,
)

logger = logging.getLogger(__name__)

KNOWN_COMMANDS = ("start", "help", "status", "balance", "trades", "pause", "resume", "closeall",
                  "checkins")
ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 10  # seconds a getUpdates long poll waits; also how soon a stop is noticed


def build_application(*, poll_timeout: int = POLL_TIMEOUT) -> Application:
    """A PTB Application for the platform bot with every handler registered."""
    require_configured()  # before PTB, whose own error would quote the token
    application = (
        Application.builder()
        .token(settings.AITRADER_TELEGRAM_BOT_TOKEN)
        .base_url(settings.AITRADER_TELEGRAM_API_BASE_URL)
        .request(make_request())
        .get_updates_request(make_request(read_timeout=poll_timeout + READ_TIMEOUT))
        .updater(None)
        .build()
    )
    for name in KNOWN_COMMANDS:
        application.add_handler(CommandHandler(name, on_command))
    application.add_handler(MessageHandler(filters.COMMAND, on_command))  # unknown commands
    application.add_handler(CallbackQueryHandler(on_callback))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    application.add_error_handler(on_error)
    return application


def _parse_command(update: Update, bot_username: str) -> tuple[str, tuple[str, ...]] | None:
    """('status', ('5',)) from '/status@ourbot 5'; None when addressed to another bot."""
    words = (update.effective_message.text or "").split()
    if not words or not words[0].startswith("/"):
        return None
    name, _, addressee = words[0][1:].partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return None
    return name.lower(), tuple(words[1:])


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any /command: parse it, let `commands` answer, reply."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    parsed = _parse_command(update, context.bot.username or "")
    if parsed is None:
        return
    user = update.effective_user
    incoming = commands.Incoming(
        chat_id=chat.id, command=parsed[0], args=parsed[1], chat_type=chat.type,
        chat_title=chat.title or chat.full_name or "", user_id=user.id if user else None,
        username=(user.username or "") if user else "")
    reply = await sync_to_async(commands.handle_command)(incoming)
    if reply is not None:
        await message.reply_text(reply.text, reply_markup=inline_markup(reply.buttons),
                                 do_quote=False)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text: a hint in private chats, silence in groups."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    reply = await sync_to_async(commands.handle_text)(chat.id, chat.type)
    if reply is not None:
        await message.reply_text(reply.text, do_quote=False)


async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An inline button: answer the query, then replace the question with the outcome."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    reply = await sync_to_async(commands.handle_callback)(
        update.effective_chat.id, query.from_user.id if query.from_user else None,
        query.data or "")
    await query.answer()
    await query.edit_message_text(reply.text)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a failed update (token redacted) and tell the chat, without details."""
    error = context.error
    logger.error("telegram update failed: %s: %s", type(error).__name__,
                 redact(str(error)), exc_info=not isinstance(error, TelegramError))
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text("Something went wrong; please try again.")
        except TelegramError:
            pass


# --- Sync entry points ---------------------------------------------------------------------------


def process_update(data: dict[str, Any]) -> None:
    """Handle one Update (a webhook body) with a fresh Application."""
    async_to_sync(_process_update)(data)


async def _process_update(data: dict[str, Any]) -> None:
    application = build_application()
    async with application:
        try:
            update = Update.de_json(data, application.bot)
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            # Telegram never sends these (a user without first_name, say): drop, never crash.
            logger.warning("malformed telegram update %s dropped: %s", data.get("update_id"),
                           type(exc).__name__)
            return
        if update is not None:
            await application.process_update(update)


# Seconds between attempts while Telegram cannot be reached: doubling, then once a minute.
RECONNECT_DELAYS = (1, 2, 4, 8, 15, 30, 60)


class _Connection:
    """Whether Telegram answers, logged once per change of state rather than per attempt."""

    def __init__(self) -> None:
        self.failures = 0

    def failed(self, exc: TelegramError) -> float:
        """Note a failed attempt; returns how long to wait before the next one."""
        if self.failures == 0:
            logger.warning("telegram polling: cannot reach Telegram (%s); retrying until it "
                           "answers", redact(exc.message))
        delay = RECONNECT_DELAYS[min(self.failures, len(RECONNECT_DELAYS) - 1)]
        self.failures += 1
        return delay

    def answered(self) -> None:
        if self.failures:
            logger.warning("telegram polling: Telegram answers again after %d failed "
                           "attempt(s)", self.failures)
        self.failures = 0


def poll(*, stop: threading.Event, once: bool = False, timeout: int = POLL_TIMEOUT) -> int:
    """Long-poll getUpdates and handle each update until `stop` is set (or one batch when
    `once`); returns how many updates were handled. Webhook delivery is switched off first."""
    return async_to_sync(_poll)(stop, once, timeout, _Connection())


def poll_until_stopped(*, stop: threading.Event, timeout: int = POLL_TIMEOUT,
                       wait=None) -> int:
    """`poll` for a long-running process: while Telegram cannot be reached (no network, a
    start-up that times out) it waits with backoff and tries again instead of exiting, so a
    supervisor never restarts it in a loop. `wait(seconds)` sleeps (returns early on stop);
    returns the updates handled once stopped."""
    wait = wait or stop.wait
    connection, handled = _Connection(), 0
    while not stop.is_set():
        try:
            return handled + async_to_sync(_poll)(stop, False, timeout, connection)
        except (NetworkError, TimedOut) as exc:  # before polling began: building the session
            wait(connection.failed(exc))
    return handled


async def _poll(stop: threading.Event, once: bool, timeout: int,
                connection: _Connection) -> int:
    application = build_application(poll_timeout=timeout)
    handled, offset = 0, None
    async with application:
        await application.bot.delete_webhook()
        connection.answered()
        while not stop.is_set():
            updates = await _get_updates(application, offset, timeout, stop, connection)
            for update in updates:
                offset = update.update_id + 1
                await application.process_update(update)
                handled += 1
            if once:
                break
        if offset is not None:  # confirm what was handled so a restart does not redo it
            await application.bot.get_updates(offset=offset, timeout=0, limit=1)
    return handled


async def _get_updates(application: Application, offset: int | None, timeout: int,
                       stop: threading.Event, connection: _Connection) -> tuple[Update, ...]:
    try:
        updates = await application.bot.get_updates(offset=offset, timeout=timeout,
                                                    allowed_updates=ALLOWED_UPDATES)
    except RetryAfter as exc:
        delay = retry_after_seconds(exc)
        logger.warning("telegram polling: flood control, waiting %.0f s", delay)
    except TelegramError as exc:
        delay = connection.failed(exc)
    else:
        connection.answered()
        return updates
    await asyncio.to_thread(stop.wait, delay)  # a stop cuts the wait short
    return ()
