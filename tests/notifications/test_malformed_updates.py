"""Updates no real Telegram sends still end in a clear answer, never a traceback."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from notifications import transport
from tests.notifications.conftest import CHATS, link_chat, send

pytestmark = pytest.mark.django_db
HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


def _post(body: str, secret: str):
    path = reverse("notifications:telegram_webhook",
                   kwargs={"token": transport.webhook_path_token()})
    return Client().post(path, data=body, content_type="application/json", **{HEADER: secret})


def test_an_update_whose_sender_has_no_first_name_is_dropped_quietly(cast, fake_telegram,
                                                                     caplog):
    link_chat(cast, "bob")
    update = fake_telegram.command(CHATS["bob"], "/help")
    del update["message"]["from"]["first_name"]
    send(fake_telegram, update)  # raised TypeError before
    assert fake_telegram.texts(CHATS["bob"]) == []
    assert "malformed telegram update" in caplog.text


@pytest.mark.parametrize("opening, closing", [("[", "]"), ('{"a":', "}")])
def test_a_deeply_nested_body_is_a_400(fake_telegram, settings, opening, closing):
    body = '{"update_id": 1, "x": ' + opening * 5000 + "1" + closing * 5000 + "}"
    response = _post(body, settings.AITRADER_TELEGRAM_WEBHOOK_SECRET)
    assert response.status_code == 400
    assert fake_telegram.calls() == []
