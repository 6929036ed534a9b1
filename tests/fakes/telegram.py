"""A local stand-in for the Telegram Bot API, spoken to by the real python-telegram-bot client.

A threaded HTTP server on 127.0.0.1 (ephemeral port) answers `/bot<token>/<method>` the way
PTB expects (`{"ok": true, "result": ...}`): getMe, sendMessage, editMessageText,
answerCallbackQuery, getUpdates (with offsets and a short long-poll), setWebhook,
deleteWebhook and getWebhookInfo. Requests arrive form-encoded (PTB's default; JSON-valued
parameters such as reply_markup are JSON strings inside the form) or as JSON.

What tests use:
* `sent_messages(chat_id)` / `texts(chat_id)`: every sendMessage that succeeded, in order;
  `calls(method)`: every request of a method, failed ones included.
* `command(chat_id, "/status")`, `text_message(...)`, `callback(chat_id, data)`: build Updates
  (commands carry a `bot_command` entity); `inject_update(update)` queues one for getUpdates.
* Faults: `rate_limit_next(retry_after)` (429 with parameters.retry_after), `block_chat(id)`
  (403 "bot was blocked by the user"), `delete_chat(id)` (400 "chat not found"),
  `fail_next(...)` for anything else.

Fixtures: `fake_telegram_server` (one per session) and `fake_telegram` (reset per test, with
the Django settings pointed at it). Import the fixtures into a conftest.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

TOKEN = "123456789:TEST-fake-telegram-token-abcdefghij"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "aitrader",
            "username": "aitrader_test_bot", "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_LONG_POLL = 1.0  # seconds a getUpdates waits at most, whatever timeout PTB asks for
JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "link_preview_options",
               "reply_parameters"}


@dataclass
class Call:
    """One request that reached the stand-in."""

    method: str
    params: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """An error to answer instead of success, for the next `times` matching requests."""

    method: str
    status: int
    description: str
    chat_id: int | None = None
    retry_after: int | None = None
    times: int = 1
    migrate_to: int | None = None


@dataclass
class _State:
    """Everything a test can observe or arrange; replaced whole by reset()."""

    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    blocked: dict[int, tuple[int, str]] = field(default_factory=dict)
    updates: list[dict] = field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""


class FakeTelegram:
    """The Bot API stand-in; start() it once, reset() it between tests."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self._lock = threading.Condition()
        self._state = _State()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        fake = self

        class Handler(_Handler):
            telegram = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="fake-telegram").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What AITRADER_TELEGRAM_API_BASE_URL should be (PTB appends the token)."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- what was asked ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._state.calls if method is None or c.method == method]

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Successful sendMessage parameters (chat_id as int, reply_markup decoded)."""
        return [c.params for c in self.calls("sendMessage")
                if c.status == 200 and (chat_id is None or c.params.get("chat_id") == chat_id)]

    def texts(self, chat_id: int | None = None) -> list[str]:
        return [m.get("text", "") for m in self.sent_messages(chat_id)]

    def last_text(self, chat_id: int) -> str:
        texts = self.texts(chat_id)
        assert texts, f"nothing was sent to chat {chat_id}"
        return texts[-1]

    @property
    def webhook(self) -> tuple[str, str]:
        return self._state.webhook_url, self._state.webhook_secret

    # --- faults --------------------------------------------------------------------------------

    def fail_next(self, method: str, *, status: int, description: str,
                  chat_id: int | None = None, retry_after: int | None = None,
                  times: int = 1, migrate_to: int | None = None) -> None:
        with self._lock:
            self._state.faults.append(Fault(method, status, description, chat_id, retry_after,
                                            times, migrate_to))

    def rate_limit_next(self, retry_after: int = 3, *, chat_id: int | None = None,
                        times: int = 1, method: str = "sendMessage") -> None:
        self.fail_next(method, status=429, retry_after=retry_after, chat_id=chat_id,
                       times=times, description=f"Too Many Requests: retry after {retry_after}")

    def block_chat(self, chat_id: int) -> None:
        """The user blocked the bot: every send to the chat gets 403 from now on."""
        with self._lock:
            self._state.blocked[chat_id] = (403, "Forbidden: bot was blocked by the user")

    def migrate_chat(self, chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: sends to the old id get 400 with migrate_to_chat_id."""
        self.fail_next("sendMessage", status=400, chat_id=chat_id, times=1_000_000,
                       description="Bad Request: group chat was upgraded to a supergroup chat",
                       migrate_to=new_chat_id)

    def delete_chat(self, chat_id: int) -> None:
        """The chat no longer exists: every send gets 400 chat not found."""
        with self._lock:
            self._state.blocked[chat_id] = (400, "Bad Request: chat not found")

    # --- updates -------------------------------------------------------------------------------

    def inject_update(self, update: dict) -> dict:
        """Queue an update for getUpdates (it gets the next update_id)."""
        with self._lock:
            update = {**update, "update_id": next(self._ids)}
            self._state.updates.append(update)
            self._lock.notify_all()
        return update

    def command(self, chat_id: int, text: str, *, user_id: int | None = None,
                chat_type: str = "private", title: str = "", username: str = "trader") -> dict:
        """A message update whose text starts with a command (with its bot_command entity)."""
        update = self.text_message(chat_id, text, user_id=user_id, chat_type=chat_type,
                                   title=title, username=username)
        first = text.split()[0]
        update["message"]["entities"] = [{"type": "bot_command", "offset": 0,
                                          "length": len(first)}]
        return update

    def text_message(self, chat_id: int, text: str, *, user_id: int | None = None,
                     chat_type: str = "private", title: str = "",
                     username: str = "trader") -> dict:
        user = _user(user_id if user_id is not None else chat_id, username)
        return {"update_id": next(self._ids), "message": {
            "message_id": next(self._ids), "date": int(time.time()),
            "chat": _chat(chat_id, chat_type, title, username), "from": user, "text": text}}

    def callback(self, chat_id: int, data: str, *, user_id: int | None = None,
                 message_id: int = 1, chat_type: str = "private") -> dict:
        """A pressed inline button on message `message_id`."""
        return {"update_id": next(self._ids), "callback_query": {
            "id": str(next(self._ids)), "chat_instance": f"ci-{chat_id}", "data": data,
            "from": _user(user_id if user_id is not None else chat_id, "trader"),
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": _chat(chat_id, chat_type, "", "trader"), "from": BOT_USER,
                        "text": "Confirm?"}}}

    # --- answering -----------------------------------------------------------------------------

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        with self._lock:
            call = Call(method, params)
            self._state.calls.append(call)
            status, body = self._fault_for(method, params) or (200, None)
            call.status = status
        if body is not None:
            return status, body
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._updates(params)}
        return 200, {"ok": True, "result": self._result(method, params)}

    def _fault_for(self, method: str, params: dict) -> tuple[int, dict] | None:
        chat_id = params.get("chat_id")
        if method == "sendMessage" and chat_id in self._state.blocked:
            status, description = self._state.blocked[chat_id]
            return status, _error(status, description)
        for fault in self._state.faults:
            if fault.method == method and fault.chat_id in (None, chat_id) and fault.times > 0:
                fault.times -= 1
                extra = {"retry_after": fault.retry_after} if fault.retry_after else {}
                if fault.migrate_to is not None:
                    extra["migrate_to_chat_id"] = fault.migrate_to
                return fault.status, _error(fault.status, fault.description, extra)
        return None

    def _result(self, method: str, params: dict) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            return self._message(params)
        if method == "editMessageText":
            return self._message(params, message_id=int(params.get("message_id", 1)))
        if method == "setWebhook":
            self._state.webhook_url = params.get("url", "")
            self._state.webhook_secret = params.get("secret_token", "")
            return True
        if method == "deleteWebhook":
            self._state.webhook_url = self._state.webhook_secret = ""
            return True
        if method == "getWebhookInfo":
            return {"url": self._state.webhook_url, "has_custom_certificate": False,
                    "pending_update_count": 0}
        if method in ("answerCallbackQuery", "setMyCommands", "deleteMessage"):
            return True
        return None

    def _message(self, params: dict, message_id: int | None = None) -> dict:
        chat_id = params.get("chat_id")
        message = {"message_id": message_id or next(self._ids), "date": int(time.time()),
                   "chat": _chat(chat_id, "private" if chat_id and chat_id > 0 else "group",
                                 "", ""),
                   "from": BOT_USER, "text": params.get("text", "")}
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message

    def _updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), MAX_LONG_POLL)
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                # Telegram forgets updates below the offset: they were confirmed.
                self._state.updates = [u for u in self._state.updates
                                       if u["update_id"] >= offset]
                if self._state.updates or time.monotonic() >= deadline:
                    return self._state.updates[:limit]
                self._lock.wait(max(deadline - time.monotonic(), 0.01))


class _Handler(BaseHTTPRequestHandler):
    """Routes /bot<token>/<method> to the FakeTelegram it belongs to."""

    telegram: FakeTelegram
    protocol_version = "HTTP/1.1"
    # One buffered write per answer and no Nagle: otherwise headers and body go out as two
    # small segments and every request waits ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if len(segments) != 2 or not segments[0].startswith("bot"):
            return self._send(404, _error(404, "Not Found"))
        if segments[0][3:] != self.telegram.token:
            return self._send(401, _error(401, "Unauthorized"))
        params = dict(parse_qsl(parts.query))
        params.update(self._body())
        status, body = self.telegram.answer(segments[1], _decode(params))
        self._send(status, body)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        if "json" in (self.headers.get("Content-Type") or ""):
            return json.loads(raw)
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))

    def _send(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _decode(params: dict) -> dict[str, Any]:
    """Form values are strings; numbers and JSON-valued parameters are decoded like Telegram."""
    decoded: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, str) and key in JSON_PARAMS:
            value = json.loads(value)
        elif isinstance(value, str) and key in ("chat_id", "message_id", "offset", "limit"):
            value = int(value) if value.lstrip("-").isdigit() else value
        decoded[key] = value
    return decoded


def _error(status: int, description: str, parameters: dict | None = None) -> dict:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _chat(chat_id: int, chat_type: str, title: str, username: str) -> dict:
    if chat_type == "private":
        return {"id": chat_id, "type": "private", "first_name": "Test", "username": username}
    return {"id": chat_id, "type": chat_type, "title": title or f"Group {chat_id}"}


def _user(user_id: int, username: str) -> dict:
    return {"id": user_id, "is_bot": False, "first_name": "Test", "username": username}



@pytest.fixture(scope="session")
def fake_telegram_server():
    """One Bot API stand-in for the whole session."""
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
def fake_telegram(fake_telegram_server, settings):
    """The stand-in, emptied, with the Django settings pointing the bot at it."""
    fake_telegram_server.reset()
    settings.AITRADER_TELEGRAM_BOT_TOKEN = fake_telegram_server.token
    settings.AITRADER_TELEGRAM_API_BASE_URL = fake_telegram_server.base_url
    settings.AITRADER_TELEGRAM_WEBHOOK_SECRET = "test-webhook-secret_0123456789"
    settings.AITRADER_TELEGRAM_SEND_CHECKINS = True
    settings.AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES = 30
    yield fake_telegram_server
    fake_telegram_server.reset()
