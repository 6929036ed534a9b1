"""The one place that talks to the Telegram Bot API (through python-telegram-bot).

Sync callers (tasks, views, commands) get plain results: `send_text` never raises a Telegram
error, it says whether to retry, when, or whether the chat is gone. The bot token is part of
every Bot API URL, so anything that might echo a URL or the token (PTB's own messages, httpx's
request log) passes through `redact` before it reaches a log line or an exception.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import ssl
import warnings
from dataclasses import dataclass
from datetime import timedelta

import certifi
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.cache import cache
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from aitrader.errors import ServiceError

logger = logging.getLogger(__name__)
# Opt in to PTB's timedelta durations now (retry_after and friends); without it PTB 22 warns on
# every 429. retry_after_seconds accepts both forms.
os.environ.setdefault("PTB_TIMEDELTA", "1")

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_TEXT = 4096  # Telegram's limit for one message
USERNAME_CACHE_SECONDS = 3600
USERNAME_RETRY_SECONDS = 60
# BadRequest descriptions that mean the chat cannot be written to any more.
CHAT_GONE_MARKERS = ("chat not found", "group chat was deleted", "chat_id is empty",
                     "peer_id_invalid", "user not found")


class TelegramNotConfigured(ServiceError):
    """AITRADER_TELEGRAM_BOT_TOKEN is empty: nothing can be sent or received."""


@dataclass(frozen=True)
class SendResult:
    """What happened to one sendMessage: sent, retry later, chat gone, or a hard failure."""

    ok: bool
    retry_after: float | None = None
    chat_gone: bool = False
    refused: bool = False  # a 400 that a retry cannot fix (bad text, bad chat id...)
    migrated_to: int | None = None
    error: str = ""


def is_configured() -> bool:
    """Whether a bot token is set."""
    return bool(settings.AITRADER_TELEGRAM_BOT_TOKEN)


def redact(text: str) -> str:
    """`text` with the bot token (and its numeric-id-less secret part) blotted out."""
    token = settings.AITRADER_TELEGRAM_BOT_TOKEN
    if not token:
        return text
    text = text.replace(token, "<token>")
    secret = token.split(":", 1)[-1]
    return text.replace(secret, "<token>") if len(secret) >= 8 else text


class RedactTokenFilter(logging.Filter):
    """Logging filter that removes the bot token from a record before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if settings.AITRADER_TELEGRAM_BOT_TOKEN:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


def install_log_redaction() -> None:
    """Attach the filter to the loggers that print Bot API URLs (httpx logs every request)."""
    for name in ("httpx", "httpcore", "telegram", "telegram.Bot", "telegram.ext.ExtBot",
                 "telegram.ext.Application", "telegram.ext.Updater"):
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokenFilter) for f in target.filters):
            target.addFilter(RedactTokenFilter())


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Building a verifying TLS context costs ~75 ms; every short-lived client shares this one.
    return ssl.create_default_context(cafile=certifi.where())


def make_request(*, read_timeout: float = READ_TIMEOUT) -> HTTPXRequest:
    """A PTB HTTP client with our timeouts and the shared TLS context."""
    return HTTPXRequest(connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout,
                        httpx_kwargs={"verify": _tls_context()})


def require_configured() -> None:
    """Raise TelegramNotConfigured (a message without secrets) when there is no token."""
    if not is_configured():
        raise TelegramNotConfigured("Telegram is not configured: set AITRADER_TELEGRAM_BOT_TOKEN.")


def make_bot(*, read_timeout: float = READ_TIMEOUT) -> Bot:
    """A PTB Bot for the platform bot; raises TelegramNotConfigured without a token."""
    require_configured()
    # Both clients passed in: PTB would otherwise build a default one with a fresh TLS context.
    return Bot(settings.AITRADER_TELEGRAM_BOT_TOKEN,
               base_url=settings.AITRADER_TELEGRAM_API_BASE_URL,
               request=make_request(read_timeout=read_timeout),
               get_updates_request=make_request(read_timeout=read_timeout))


def send_text(chat_id: int, text: str) -> SendResult:
    """Send `text` to `chat_id`; a Telegram or network error becomes a SendResult."""
    try:
        async_to_sync(_send_text)(chat_id, text[:MAX_TEXT])
    except RetryAfter as exc:
        return SendResult(ok=False, retry_after=retry_after_seconds(exc),
                          error="flood control (429)")
    except ChatMigrated as exc:
        return SendResult(ok=False, migrated_to=exc.new_chat_id, error="chat migrated")
    except Forbidden as exc:  # blocked, kicked, deactivated user: the chat will not come back
        return SendResult(ok=False, chat_gone=True, error=redact(exc.message)[:200])
    except BadRequest as exc:
        message = redact(exc.message)
        gone = any(marker in message.lower() for marker in CHAT_GONE_MARKERS)
        return SendResult(ok=False, chat_gone=gone, refused=True, error=message[:200])
    except TelegramError as exc:  # network trouble, 5xx, timeouts: worth retrying
        return SendResult(ok=False, error=redact(exc.message)[:200])
    return SendResult(ok=True)


async def _send_text(chat_id: int, text: str) -> None:
    # The Bot is not `initialize()`d: that would cost a getMe per message.
    bot = make_bot()
    try:
        await bot.send_message(chat_id=chat_id, text=text, disable_web_page_preview=True)
    finally:
        await bot.request.shutdown()


def retry_after_seconds(exc: RetryAfter) -> float:
    """Telegram's retry_after of a 429, in seconds."""
    # PTB 22 returns an int (with a deprecation warning) or a timedelta (PTB_TIMEDELTA=1).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(seconds, 0.0)


def bot_username() -> str | None:
    """The bot's @username (from getMe, cached an hour); None when unknown or unreachable."""
    if not is_configured():
        return None
    key = "telegram:username:" + hashlib.sha256(
        settings.AITRADER_TELEGRAM_BOT_TOKEN.encode()).hexdigest()[:16]
    username = cache.get(key)
    if username is None:
        try:
            username = async_to_sync(_get_username)()
        except TelegramError as exc:
            logger.warning("telegram getMe failed: %s", redact(exc.message))
            # Remember the failure briefly so a page does not wait on a dead API every time.
            cache.set(key, "", USERNAME_RETRY_SECONDS)
            return None
        cache.set(key, username, USERNAME_CACHE_SECONDS)
    return username or None


async def _get_username() -> str:
    bot = make_bot()
    try:
        me = await bot.get_me()
    finally:
        await bot.request.shutdown()
    return me.username or ""


def deep_link(code: str) -> str | None:
    """`https://t.me/<bot>?start=<code>`, or None when the bot's username is unknown."""
    username = bot_username()
    return f"https://t.me/{username}?start={code}" if username else None


def webhook_set(url: str, secret_token: str) -> None:
    """Point Telegram at our webhook; raises ServiceError with a safe message on failure."""
    _call(_webhook_set, url, secret_token)


def webhook_delete() -> None:
    """Stop webhook delivery (polling needs it off)."""
    _call(_webhook_delete)


async def _webhook_set(url: str, secret_token: str) -> None:
    bot = make_bot()
    try:
        await bot.set_webhook(url=url, secret_token=secret_token,
                              allowed_updates=["message", "callback_query"])
    finally:
        await bot.request.shutdown()


async def _webhook_delete() -> None:
    bot = make_bot()
    try:
        await bot.delete_webhook()
    finally:
        await bot.request.shutdown()


def _call(function, *args) -> None:
    try:
        async_to_sync(function)(*args)
    except TelegramError as exc:
        raise ServiceError(f"Telegram refused: {redact(exc.message)}") from None


def inline_markup(buttons: list[list[tuple[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """PTB markup from rows of (label, callback data)."""
    if not buttons:
        return None
    from telegram import InlineKeyboardButton

    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)
                                  for label, data in row] for row in buttons])


# --- Webhook secrets ------------------------------------------------------------------------------


def webhook_path_token() -> str | None:
    """The secret path segment of the webhook URL (None: webhook disabled).

    Derived from AITRADER_TELEGRAM_WEBHOOK_SECRET rather than equal to it, so a URL that shows
    up in a proxy log does not give away the header secret as well.
    """
    secret = settings.AITRADER_TELEGRAM_WEBHOOK_SECRET
    if not secret:
        return None
    return hashlib.sha256(f"aitrader-telegram-webhook:{secret}".encode()).hexdigest()[:40]


def webhook_request_allowed(path_token: str, header_secret: str | None) -> bool:
    """Both secrets match (constant-time); always False while no secret is configured."""
    expected_path = webhook_path_token()
    if expected_path is None:
        return False
    secret = settings.AITRADER_TELEGRAM_WEBHOOK_SECRET
    path_ok = hmac.compare_digest(path_token.encode(), expected_path.encode())
    header_ok = hmac.compare_digest((header_secret or "").encode(), secret.encode())
    return path_ok and header_ok
