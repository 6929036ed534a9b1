"""Sign-in attempts: 5 failures in 15 minutes per account + address, the 2FA step and the
password re-entered for exchange credentials counting alike."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from django.test import Client

from aitrader.errors import Forbidden
from tenants.actors import Actor
from tenants.models import Membership
from tenants.services import totp_begin, totp_confirm
from tenants.throttle import RateLimited
from tests.base import PASSWORD
from trading.services.credentials import exchange_credentials_save


@pytest.fixture
def login_limits(settings, rate_limit_store, frozen_clock):
    settings.AITRADER_RATE_LIMIT_LOGIN_FAILURES = 5
    settings.AITRADER_RATE_LIMIT_LOGIN_WINDOW_MINUTES = 15
    return settings


def _login(client: Client, password: str, email: str = "alice@example.com", **extra):
    return client.post("/accounts/login/", {"email": email, "password": password}, **extra)


def _fail(client: Client, times: int, **extra) -> list[int]:
    return [_login(client, "wrong-password", **extra).status_code for _ in range(times)]


def test_five_failures_lock_the_account_from_that_address(world, login_limits):
    client = Client()
    assert _fail(client, 5) == [200] * 5  # the form again, with an error
    response = _login(client, PASSWORD)
    assert response.status_code == 429, "even the right password waits"
    assert 1 <= int(response["Retry-After"]) <= 15 * 60
    assert "failed sign-in attempts" in response.content.decode()


def test_the_lock_ends_with_the_15_minute_window(world, login_limits, frozen_clock):
    client = Client()
    _fail(client, 5)
    assert _login(client, PASSWORD).status_code == 429
    frozen_clock.shift(timedelta(minutes=16))
    assert _login(client, PASSWORD).status_code == 302


def test_another_address_can_still_sign_in(world, login_limits):
    _fail(Client(), 5)
    assert _login(Client(), PASSWORD, REMOTE_ADDR="198.51.100.4").status_code == 302


def test_a_forged_forwarded_for_does_not_open_the_lock(world, login_limits):
    _fail(Client(), 5)
    response = _login(Client(), PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert response.status_code == 429


def test_successes_do_not_count(world, login_limits):
    for _ in range(8):
        assert _login(Client(), PASSWORD).status_code == 302


def test_an_address_spraying_many_accounts_is_stopped(world, login_limits):
    # 4x the per-account budget per address, whatever the e-mail.
    codes = [_login(Client(), "wrong", email=f"user{n}@example.com").status_code
             for n in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429


def test_wrong_2fa_codes_count_as_failures(world, login_limits):
    secret = totp_begin(user=world.alice)
    totp_confirm(user=world.alice, code=pyotp.TOTP(secret).now())
    client = Client()
    assert _login(client, PASSWORD).status_code == 302  # on to the code step
    codes = [client.post("/accounts/login/2fa/", {"code": "000000"}).status_code
             for _ in range(6)]
    assert codes[:5] == [200] * 5 and codes[5] == 429
    assert _login(Client(), PASSWORD).status_code == 429, "the password step is locked too"


def test_wrong_re_entered_passwords_for_exchange_credentials_count(world, login_limits):
    membership = Membership.objects.get(tenant=world.tenant_a, user=world.alice)
    actor = Actor.for_member(membership, ip="127.0.0.1")
    for _ in range(5):
        with pytest.raises(Forbidden):
            exchange_credentials_save(tenant=world.tenant_a, actor=actor, account_id=1,
                                      api_key="k", secret="s", password="wrong")
    with pytest.raises(RateLimited):
        exchange_credentials_save(tenant=world.tenant_a, actor=actor, account_id=1,
                                  api_key="k", secret="s", password=PASSWORD)
    assert _login(Client(), PASSWORD).status_code == 429, "one budget for every check"


def test_the_admin_login_takes_no_password_and_sends_to_the_limited_sign_in(world,
                                                                           login_limits):
    # Admin signs in through /accounts/login/ and its 2FA step (test_admin_two_factor.py), so
    # no second password form escapes this budget.
    client = Client()
    for _ in range(5):
        _login(client, "x")
    response = client.post("/admin/login/", {"username": "alice@example.com",
                                              "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in client.session
    assert _login(client, PASSWORD).status_code == 429
