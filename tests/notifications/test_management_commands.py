"""The CLI contract: telegram_link_code, send_checkins, run_telegram, telegram_webhook."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.notifications.conftest import CHATS, ask, link_chat

pytestmark = pytest.mark.django_db


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_telegram_link_code_prints_the_code_alone(cast, fake_telegram):
    out, _ = _run("telegram_link_code", "--tenant", "tenant-a", "--user", "Tina@Example.com")
    assert re.fullmatch(r"[A-Za-z0-9_-]{27,}\n", out)
    code = out.strip()
    assert "Linked to Tenant A as tina@example.com" in ask(fake_telegram, 31, f"/start {code}")


@pytest.mark.parametrize(("args", "message"), [
    (("--tenant", "nope", "--user", "tina@example.com"), "No tenant with slug 'nope'"),
    (("--tenant", "tenant-a", "--user", "charlie@example.com"), "is not a member"),
])
def test_telegram_link_code_refuses_bad_input_clearly(cast, args, message):
    with pytest.raises(CommandError, match=message):
        _run("telegram_link_code", *args)


def test_send_checkins_sends_due_ones_once(cast, fake_telegram, django_capture_on_commit_callbacks):
    link_chat(cast, "tina")
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _run("send_checkins")
    assert out.startswith("1 check-in(s) sent")
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = _run("send_checkins")
    assert out.startswith("0 check-in(s) sent")
    assert len(fake_telegram.texts(CHATS["tina"])) == 1


def test_send_checkins_without_a_token_says_so(cast, settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    out, err = _run("send_checkins")
    assert out == "" and "not configured" in err


def test_run_telegram_polls_and_answers_then_confirms_the_offset(cast, fake_telegram):
    link_chat(cast, "bob")
    fake_telegram.inject_update(fake_telegram.command(CHATS["bob"], "/help"))
    fake_telegram.inject_update(fake_telegram.command(555, "/status"))
    _, err = _run("run_telegram", "--once", "--timeout", "0")
    assert "Stopped after 2 update(s)" in err
    assert "/status" in fake_telegram.last_text(CHATS["bob"])
    assert "not linked" in fake_telegram.last_text(555)
    assert fake_telegram.calls("deleteWebhook")  # polling and a webhook exclude each other
    _, err = _run("run_telegram", "--once", "--timeout", "0")
    assert "Stopped after 0 update(s)" in err  # handled updates are not handed out again


def test_run_telegram_runs_until_stopped(cast, fake_telegram):
    import threading
    import time

    from notifications.handlers import poll

    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(poll(stop=stop, timeout=1)))
    thread.start()
    fake_telegram.inject_update(fake_telegram.command(555, "/help"))
    deadline = time.monotonic() + 5
    while not fake_telegram.texts(555) and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert result == [1] and not thread.is_alive()


def test_run_telegram_without_a_token_fails_cleanly(settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="AITRADER_TELEGRAM_BOT_TOKEN"):
        _run("run_telegram", "--once")


def test_telegram_webhook_sets_the_secret_url(fake_telegram, settings):
    out, _ = _run("telegram_webhook", "--set", "https://trade.example.com/")
    url = out.strip()
    assert url.startswith("https://trade.example.com/telegram/webhook/")
    assert fake_telegram.webhook == (url, settings.AITRADER_TELEGRAM_WEBHOOK_SECRET)
    _run("telegram_webhook", "--delete")
    assert fake_telegram.webhook == ("", "")


def test_telegram_webhook_refuses_plain_http(fake_telegram):
    with pytest.raises(CommandError, match="https://"):
        _run("telegram_webhook", "--set", "http://trade.example.com")



def test_run_telegram_with_a_refused_token_fails_without_printing_it(fake_telegram, settings):
    settings.AITRADER_TELEGRAM_BOT_TOKEN = "777:refused-secret-token"
    with pytest.raises(CommandError) as raised:
        _run("run_telegram", "--once", "--timeout", "0")
    assert "refused-secret-token" not in str(raised.value)
    assert "<token>" in str(raised.value) or "rejected" in str(raised.value)


def test_the_embedded_scheduler_pass_sends_due_checkins(cast, fake_telegram,
                                                        django_capture_on_commit_callbacks):
    from notifications.tasks import run_notifications_pass

    link_chat(cast, "tina")
    with django_capture_on_commit_callbacks(execute=True):
        assert run_notifications_pass() == {"checkins": 1, "retried": 0}
        assert run_notifications_pass() == {"checkins": 0, "retried": 0}
    assert len(fake_telegram.texts(CHATS["tina"])) == 1


def test_the_embedded_scheduler_pass_never_raises(cast, settings, caplog):
    from notifications.tasks import run_notifications_pass

    link_chat(cast, "tina")
    settings.AITRADER_TELEGRAM_BOT_TOKEN = "1:abcdefghijkl"
    settings.AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES = "thirty"  # a broken deployment
    assert run_notifications_pass() == {"checkins": 0, "retried": 0}
    assert "notifications pass failed" in caplog.text
