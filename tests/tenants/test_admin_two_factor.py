"""Django admin signs in through the same two steps as /accounts/login/, and staff need 2FA.

The clock is frozen for every test here, so a code computed by the test is the one the server
checks (no 30-second step can turn in between).
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from django.test import Client

from tenants.models import User
from tenants.services import totp_begin, totp_confirm, totp_seed
from tests.base import PASSWORD

NOW = datetime(2030, 6, 1, 12, 0, 10, tzinfo=UTC)
ADMIN = "/admin/"
ADMIN_LOGIN = "/admin/login/"
LOGIN = "/accounts/login/"
LOGIN_2FA = "/accounts/login/2fa/"
TWO_FACTOR = "/accounts/2fa/"
ME = "/api/v1/me/"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _make_staff(user: User) -> None:
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])


def _enable_totp(user: User) -> str:
    """TOTP on for `user`, confirmed with the previous step's code; returns the secret."""
    secret = totp_begin(user=user)
    totp_confirm(user=user, code=pyotp.TOTP(secret).at(NOW - timedelta(seconds=30)))
    return secret


@pytest.fixture
def staff_secret(world) -> str:
    """alice is staff (a superuser) with TOTP on."""
    _make_staff(world.alice)
    return _enable_totp(world.alice)


def _two_step(client: Client, secret: str, next_url: str = ADMIN):
    first = client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD,
                                "next": next_url})
    assert first["Location"] == LOGIN_2FA
    return client.post(LOGIN_2FA, {"code": pyotp.TOTP(secret).at(NOW)})


def test_the_password_alone_on_the_admin_login_signs_nobody_in(staff_secret, client):
    response = client.post(ADMIN_LOGIN, {"username": "alice@example.com", "password": PASSWORD,
                                         "next": ADMIN})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get(ADMIN).status_code == 302
    assert client.get(ME).status_code == 401
    assert client.get("/")["Location"].startswith(LOGIN)
    minted = client.post("/api/v1/api-keys/", {"name": "x", "scopes": ["admin"]},
                         content_type="application/json")
    assert minted.status_code in (401, 403)


def test_the_admin_login_page_sends_to_the_two_step_sign_in_keeping_next(db, client):
    response = client.get(ADMIN_LOGIN, {"next": "/admin/tenants/tenant/"})
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/admin/tenants/tenant/"


def test_admin_opens_after_the_password_and_the_code(staff_secret, client):
    response = _two_step(client, staff_secret, next_url="/admin/tenants/tenant/")
    assert response["Location"] == "/admin/tenants/tenant/"
    assert client.get("/admin/tenants/tenant/").status_code == 200
    assert client.get(ADMIN).status_code == 200


def test_a_session_that_skipped_the_second_step_does_not_open_admin(staff_secret, world,
                                                                      client):
    # A session signed in before the second step existed, or by any other path.
    client.force_login(world.alice)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert client.get(response["Location"])["Location"].startswith(LOGIN)


def test_staff_without_2fa_are_sent_to_set_it_up_then_sign_in_again(world, client):
    _make_staff(world.alice)
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    assert client.get(ME).status_code == 200  # signed in, but...
    page = client.get(ADMIN, follow=True)
    assert page.redirect_chain[-1][0].startswith(TWO_FACTOR)
    assert b"Staff accounts need two-factor authentication" in page.content
    begun = client.post(f"{TWO_FACTOR}?next=/admin/", {"action": "begin", "next": "/admin/"})
    assert begun["Location"] == f"{TWO_FACTOR}?next=/admin/"
    world.alice.refresh_from_db()
    secret = totp_seed(user=world.alice)
    previous = pyotp.TOTP(secret).at(NOW - timedelta(seconds=30))  # NOW's code signs in below
    confirmed = client.post(TWO_FACTOR, {"action": "confirm", "code": previous})
    assert confirmed.status_code == 200  # the recovery codes, shown once
    # Setting 2FA up in a session signed in with a password alone does not open admin: that
    # session may be stolen. A fresh two-step sign-in does.
    assert client.get(ADMIN).status_code == 302
    _two_step(client, secret)
    assert client.get(ADMIN).status_code == 200


def test_turning_2fa_off_closes_admin(staff_secret, client, frozen):
    _two_step(client, staff_secret)
    assert client.get(ADMIN).status_code == 200
    frozen.shift(timedelta(seconds=30))  # a fresh code: each code works once
    client.post(TWO_FACTOR, {"action": "disable",
                             "code": pyotp.TOTP(staff_secret).at(NOW + timedelta(seconds=30))})
    assert client.get(ADMIN).status_code == 302


def test_a_member_who_is_not_staff_gets_no_admin_even_with_2fa(world, client):
    secret = _enable_totp(world.alice)
    _two_step(client, secret, next_url="/")
    assert client.get(ME).status_code == 200
    assert client.get(ADMIN).status_code == 302
