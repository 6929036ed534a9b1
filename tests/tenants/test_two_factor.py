"""Optional TOTP second factor: enrolment, the login's second step, turning it off."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from django.test import Client

from tenants.models import User
from tests.base import PASSWORD

TWO_FACTOR = "/accounts/2fa/"
LOGIN = "/accounts/login/"
LOGIN_2FA = "/accounts/login/2fa/"
ME = "/api/v1/me/"


def _wrong(code: str) -> str:
    return f"{(int(code) + 500000) % 1000000:06d}"


def _enrol(client: Client, user: User) -> str:
    client.post(TWO_FACTOR, {"action": "begin"})
    user.refresh_from_db()
    return user.totp_secret


@pytest.fixture
def alice_with_totp(world) -> str:
    """alice has TOTP on; returns her secret."""
    client = Client()
    client.force_login(world.alice)
    secret = _enrol(client, world.alice)
    client.post(TWO_FACTOR, {"action": "confirm", "code": pyotp.TOTP(secret).now()})
    world.alice.refresh_from_db()
    assert world.alice.totp_enabled
    return secret


# --- Enrolment --------------------------------------------------------------------------------

def test_it_requires_sign_in_for_the_setup_page(db, client):
    response = client.get(TWO_FACTOR)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_it_shows_the_secret_while_enrolling_but_leaves_2fa_off(world, client):
    client.force_login(world.alice)
    secret = _enrol(client, world.alice)
    assert len(secret) >= 16
    assert not world.alice.totp_enabled
    page = client.get(TWO_FACTOR)
    assert secret.encode() in page.content
    assert b"otpauth://totp/" in page.content


def test_it_refuses_to_enable_with_a_wrong_code(world, client):
    client.force_login(world.alice)
    secret = _enrol(client, world.alice)
    response = client.post(TWO_FACTOR, {"action": "confirm",
                                        "code": _wrong(pyotp.TOTP(secret).now())})
    assert response.status_code == 200
    assert b"That code is not valid" in response.content
    world.alice.refresh_from_db()
    assert not world.alice.totp_enabled


def test_it_enables_with_a_valid_code_and_hides_the_secret(world, client):
    client.force_login(world.alice)
    secret = _enrol(client, world.alice)
    response = client.post(TWO_FACTOR, {"action": "confirm", "code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    world.alice.refresh_from_db()
    assert world.alice.totp_enabled
    assert secret.encode() not in client.get(TWO_FACTOR).content


def test_it_refuses_to_confirm_without_enrolment(world, client):
    client.force_login(world.alice)
    response = client.post(TWO_FACTOR, {"action": "confirm", "code": "123456"})
    assert response.status_code == 200
    world.alice.refresh_from_db()
    assert not world.alice.totp_enabled


# --- Login with the second step -----------------------------------------------------------------

def test_it_asks_for_the_code_before_signing_in(alice_with_totp, client):
    response = client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == LOGIN_2FA
    assert "_auth_user_id" not in client.session
    assert client.get(ME).status_code == 401
    assert client.get("/")["Location"].startswith(LOGIN)


def test_it_refuses_a_wrong_code(alice_with_totp, client):
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    wrong = _wrong(pyotp.TOTP(alice_with_totp).now())
    response = client.post(LOGIN_2FA, {"code": wrong})
    assert response.status_code == 200
    assert b"That code is not valid" in response.content
    assert client.get(ME).status_code == 401


def test_it_refuses_a_code_from_long_ago(alice_with_totp, client):
    old_code = pyotp.TOTP(alice_with_totp).at(datetime.now(UTC) - timedelta(minutes=10))
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    client.post(LOGIN_2FA, {"code": old_code})
    assert client.get(ME).status_code == 401


def test_it_signs_in_with_a_valid_code_and_keeps_next(alice_with_totp, client, world):
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD,
                        "next": "/accounts/members/"})
    response = client.post(LOGIN_2FA, {"code": pyotp.TOTP(alice_with_totp).now()})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/members/"
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"
    assert "pending_2fa_user_id" not in client.session


def test_it_accepts_a_code_one_step_old_for_clock_drift(alice_with_totp, client):
    now = datetime(2030, 6, 1, 12, 0, 10, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        previous = pyotp.TOTP(alice_with_totp).at(now - timedelta(seconds=30))
        client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
        client.post(LOGIN_2FA, {"code": previous})
        assert client.get(ME).status_code == 200


def test_it_sends_the_second_step_back_to_login_without_a_password_first(alice_with_totp,
                                                                          client):
    response = client.post(LOGIN_2FA, {"code": pyotp.TOTP(alice_with_totp).now()})
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get(ME).status_code == 401


def test_it_does_not_ask_users_without_2fa_for_a_code(world, client):
    response = client.post(LOGIN, {"email": "bob@example.com", "password": PASSWORD})
    assert response["Location"] == "/"
    assert client.get(ME).status_code == 200


# --- Turning it off ------------------------------------------------------------------------------

def test_it_refuses_to_disable_without_a_valid_code(alice_with_totp, world, client):
    client.force_login(world.alice)
    response = client.post(TWO_FACTOR, {"action": "disable",
                                        "code": _wrong(pyotp.TOTP(alice_with_totp).now())})
    assert response.status_code == 200
    assert b"That code is not valid" in response.content
    world.alice.refresh_from_db()
    assert world.alice.totp_enabled
    assert world.alice.totp_secret == alice_with_totp


def test_it_refuses_to_disable_with_an_empty_code(alice_with_totp, world, client):
    client.force_login(world.alice)
    client.post(TWO_FACTOR, {"action": "disable", "code": ""})
    world.alice.refresh_from_db()
    assert world.alice.totp_enabled


def test_it_disables_with_a_valid_code(alice_with_totp, world, client):
    client.force_login(world.alice)
    response = client.post(TWO_FACTOR, {"action": "disable",
                                        "code": pyotp.TOTP(alice_with_totp).now()})
    assert response.status_code == 302
    world.alice.refresh_from_db()
    assert not world.alice.totp_enabled
    assert world.alice.totp_secret == ""
    fresh = Client()
    assert fresh.post(LOGIN, {"email": "alice@example.com",
                              "password": PASSWORD})["Location"] == "/"


def test_it_does_not_let_re_enrolment_switch_2fa_off_without_a_code(alice_with_totp, world,
                                                                    client):
    # A stolen session must not turn the second factor off by starting a new enrolment.
    client.force_login(world.alice)
    response = client.post(TWO_FACTOR, {"action": "begin"}, follow=True)
    assert response.status_code == 200
    world.alice.refresh_from_db()
    assert world.alice.totp_enabled
    assert world.alice.totp_secret == alice_with_totp
    assert Client().post(LOGIN, {"email": "alice@example.com",
                                 "password": PASSWORD})["Location"] == LOGIN_2FA
