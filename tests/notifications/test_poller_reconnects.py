"""The long-running Telegram poller never exits on a lost connection: it waits with backoff,
logs once when Telegram stops answering and once when it answers again; without a token it
says so and exits 0, so a supervisor that restarts on failure does not loop."""
from __future__ import annotations

import logging
import socket
import threading
from io import StringIO

import pytest
from django.core.management import call_command

from notifications.handlers import RECONNECT_DELAYS, poll_until_stopped
from tests.live import WAIT_SECONDS
from tests.notifications.conftest import CHATS, link_chat

pytestmark = pytest.mark.django_db


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/bot"  # nothing listens there: connection refused


def test_it_backs_off_while_telegram_is_unreachable_then_answers(cast, fake_telegram, settings,
                                                                   caplog):
    link_chat(cast, "bob")
    settings.AITRADER_TELEGRAM_API_BASE_URL = _closed_port_url()
    stop, waits, pause = threading.Event(), [], threading.Event()

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if len(waits) == 3:  # the network is back
            settings.AITRADER_TELEGRAM_API_BASE_URL = fake_telegram.base_url
            fake_telegram.inject_update(fake_telegram.command(CHATS["bob"], "/help"))
        return False

    handled: list[int] = []
    with caplog.at_level(logging.WARNING, logger="notifications.handlers"):
        thread = threading.Thread(target=lambda: handled.append(
            poll_until_stopped(stop=stop, timeout=0, wait=wait)))
        thread.start()
        try:
            for _ in range(int(WAIT_SECONDS * 50)):
                if fake_telegram.texts(CHATS["bob"]):
                    break
                pause.wait(0.02)
        finally:
            stop.set()
            thread.join(WAIT_SECONDS)
    assert not thread.is_alive() and handled == [1]
    assert waits == list(RECONNECT_DELAYS[:3])
    messages = [record.getMessage() for record in caplog.records]
    assert sum("cannot reach Telegram" in message for message in messages) == 1
    assert sum("answers again after 3 failed attempt(s)" in message for message in messages) == 1
    assert fake_telegram.token not in " ".join(messages)


def test_without_a_token_it_says_so_and_exits_zero(settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    err = StringIO()
    call_command("run_telegram", stderr=err)  # returns: exit status 0
    assert "not configured" in err.getvalue() and "AITRADER_TELEGRAM_BOT_TOKEN" in err.getvalue()
