"""The webhook: secret path and X-Telegram-Bot-Api-Secret-Token, 403 otherwise."""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from notifications import transport
from tests.notifications.conftest import CHATS, link_chat

pytestmark = pytest.mark.django_db
HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


def _post(path: str, body, secret: str | None = None):
    extra = {HEADER: secret} if secret is not None else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return Client().post(path, data=data, content_type="application/json", **extra)


def _url(token: str | None = None) -> str:
    return reverse("notifications:telegram_webhook",
                   kwargs={"token": token or transport.webhook_path_token()})


def test_it_handles_an_update_with_both_secrets(cast, fake_telegram, settings):
    link_chat(cast, "bob")
    response = _post(_url(), fake_telegram.command(CHATS["bob"], "/help"),
                     settings.AITRADER_TELEGRAM_WEBHOOK_SECRET)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert "/status" in fake_telegram.last_text(CHATS["bob"])


def test_it_refuses_a_missing_or_wrong_header(cast, fake_telegram):
    update = fake_telegram.command(CHATS["bob"], "/help")
    assert _post(_url(), update).status_code == 403
    assert _post(_url(), update, "wrong-secret").status_code == 403
    assert fake_telegram.calls() == []


def test_it_refuses_a_wrong_path(cast, fake_telegram, settings):
    response = _post(_url("0" * 40), fake_telegram.command(CHATS["bob"], "/help"),
                     settings.AITRADER_TELEGRAM_WEBHOOK_SECRET)
    assert response.status_code == 403


def test_the_path_does_not_reveal_the_header_secret(fake_telegram, settings):
    assert settings.AITRADER_TELEGRAM_WEBHOOK_SECRET not in _url()


def test_it_is_closed_while_no_secret_is_configured(fake_telegram, settings):
    path = _url()
    settings.AITRADER_TELEGRAM_WEBHOOK_SECRET = ""
    assert _post(path, {"update_id": 1}, "").status_code == 403


def test_it_answers_bad_bodies_with_400_not_a_traceback(fake_telegram, settings):
    secret = settings.AITRADER_TELEGRAM_WEBHOOK_SECRET
    assert _post(_url(), "{not json", secret).status_code == 400
    assert _post(_url(), ["a", "list"], secret).status_code == 400
    assert _post(_url(), {"no": "update_id"}, secret).status_code == 400


def test_it_accepts_only_post(fake_telegram, settings):
    response = Client().get(_url(), **{HEADER: settings.AITRADER_TELEGRAM_WEBHOOK_SECRET})
    assert response.status_code == 405


def test_an_unknown_chat_through_the_webhook_gets_the_refusal_only(cast, fake_telegram,
                                                                    settings):
    _post(_url(), fake_telegram.command(777, "/status"), settings.AITRADER_TELEGRAM_WEBHOOK_SECRET)
    assert [m["text"][:30] for m in fake_telegram.sent_messages()] == [
        "Hello! This chat is not linked"]


def test_without_a_bot_token_it_answers_503_not_a_traceback(fake_telegram, settings):
    path, secret = _url(), settings.AITRADER_TELEGRAM_WEBHOOK_SECRET
    settings.AITRADER_TELEGRAM_BOT_TOKEN = ""
    assert _post(path, {"update_id": 1}, secret).status_code == 503
