"""Sessions: key rotation at sign-in, idle and absolute timeouts, CSRF on unsafe requests."""
from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.base import PASSWORD

MINUTE = 60


def _sign_in(client: Client) -> None:
    response = client.post("/accounts/login/", {"email": "alice@example.com",
                                                "password": PASSWORD})
    assert response.status_code == 302, "signed in"


def _signed_in(client: Client) -> bool:
    return client.get("/api/v1/me/").status_code == 200


def test_it_rotates_the_session_key_at_sign_in(world):
    client = Client()
    client.get("/accounts/login/")
    session = client.session
    session["before_login"] = True  # make the anonymous session real (saved, with a key)
    session.save()
    client.cookies["sessionid"] = session.session_key
    anonymous_key = session.session_key
    _sign_in(client)
    assert client.cookies["sessionid"].value != anonymous_key
    assert not Session.objects.filter(session_key=anonymous_key).exists()


def test_it_rotates_the_key_again_after_the_2fa_step(world):
    import pyotp

    from tenants.services import totp_begin, totp_confirm

    secret = totp_begin(user=world.alice)
    # The previous step's code confirms (drift window), leaving the current one unused.
    totp_confirm(user=world.alice,
                 code=pyotp.TOTP(secret).at(timezone.now() - timedelta(seconds=30)))
    client = Client()
    _sign_in(client)  # the password step: pending, not signed in
    pending_key = client.cookies["sessionid"].value
    assert not _signed_in(client)
    client.post("/accounts/login/2fa/", {"code": pyotp.TOTP(secret).now()})
    assert _signed_in(client)
    assert client.cookies["sessionid"].value != pending_key


def test_it_keeps_an_active_session_inside_the_idle_limit(world):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _sign_in(client)
        for _ in range(4):
            clock.shift(timedelta(minutes=25))
            assert _signed_in(client)


def test_it_signs_out_a_session_idle_for_longer_than_30_minutes(world):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _sign_in(client)
        key = client.cookies["sessionid"].value
        clock.shift(timedelta(minutes=31))
        assert client.get("/api/v1/me/").status_code == 401
        assert client.get("/").status_code == 302, "a page sends the person to sign in"
    assert not Session.objects.filter(session_key=key).exists(), "deleted server-side too"


def test_it_signs_out_after_12_hours_however_active(world):
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _sign_in(client)
        for _ in range(int(12 * 60 / 20) - 1):
            clock.shift(timedelta(minutes=20))
            assert _signed_in(client)
        clock.shift(timedelta(minutes=21))
        assert not _signed_in(client)


def test_both_limits_are_configurable(world, settings):
    settings.AITRADER_SESSION_IDLE_SECONDS = 5 * MINUTE
    settings.AITRADER_SESSION_ABSOLUTE_SECONDS = 60 * MINUTE
    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _sign_in(client)
        clock.shift(timedelta(minutes=6))
        assert not _signed_in(client), "idle limit"
        _sign_in(client)
        for _ in range(14):
            clock.shift(timedelta(minutes=4))
            assert _signed_in(client)
        clock.shift(timedelta(minutes=4))  # 60 minutes since sign-in, 4 since the last request
        assert not _signed_in(client), "absolute limit"


def test_the_production_defaults_are_30_minutes_and_12_hours(settings):
    assert settings.AITRADER_SESSION_IDLE_SECONDS == 30 * MINUTE
    assert settings.AITRADER_SESSION_ABSOLUTE_SECONDS == 12 * 60 * MINUTE


def test_the_live_feed_refuses_an_expired_session(world):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from aitrader.asgi import application
    from tests.live import refusal_code

    client = Client()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        _sign_in(client)
        clock.shift(timedelta(minutes=31))
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        communicator = WebsocketCommunicator(application, "/ws/live", headers=[
            (b"cookie", cookie.encode()), (b"host", b"testserver"),
            (b"origin", b"http://testserver")])
        code = async_to_sync(refusal_code)(communicator)
    assert code == 4401


# --- CSRF -------------------------------------------------------------------------------------

@pytest.fixture
def csrf_client(world) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    return client


def _csrf_token(client: Client) -> str:
    client.get("/settings/")
    return client.cookies["csrftoken"].value


def test_an_api_write_from_a_session_without_the_csrf_token_is_refused(csrf_client, world):
    response = csrf_client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]},
                                content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_an_api_write_from_a_session_with_the_token_is_accepted(csrf_client, world):
    token = _csrf_token(csrf_client)
    response = csrf_client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["read"]},
                                content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


@pytest.mark.parametrize("path, data", [
    ("/settings/api-keys/", {"name": "x", "scopes": ["read"], "days": 30}),
    ("/accounts/logout/", {}),
    ("/accounts/switch/", {"tenant": "1"}),
])
def test_a_page_post_without_the_csrf_token_is_refused(csrf_client, path, data):
    assert csrf_client.post(path, data).status_code == 403


def test_an_api_key_request_needs_no_csrf_token(world):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.control_key_a}")
    assert client.post("/api/v1/bots/999/pause/").status_code == 404  # past CSRF, to lookup


@pytest.mark.django_db
def test_the_login_form_itself_is_csrf_protected(world):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"email": "alice@example.com",
                                                "password": PASSWORD})
    assert response.status_code == 403
