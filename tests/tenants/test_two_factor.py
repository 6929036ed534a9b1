"""Optional TOTP second factor: enrolment, the login's second step, turning it off."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import import_module

import pyotp
import pytest
import time_machine
from django.apps import apps as django_apps
from django.test import Client

from tenants import services
from tenants.models import User
from tenants.services import totp_seed
from tenants.vault import VaultError, rotate_master_keys
from tenants.vault_keys import encode_key
from tests.base import PASSWORD

TWO_FACTOR = "/accounts/2fa/"
LOGIN = "/accounts/login/"
LOGIN_2FA = "/accounts/login/2fa/"
ME = "/api/v1/me/"


def _wrong(code: str) -> str:
    return f"{(int(code) + 500000) % 1000000:06d}"


def _previous_code(secret: str) -> str:
    return pyotp.TOTP(secret).at(datetime.now(UTC) - timedelta(seconds=30))


def _enrol(client: Client, user: User) -> str:
    client.post(TWO_FACTOR, {"action": "begin"})
    user.refresh_from_db()
    return totp_seed(user=user)


@pytest.fixture
def alice_with_totp(world) -> str:
    """alice has TOTP on; returns her secret."""
    client = Client()
    client.force_login(world.alice)
    secret = _enrol(client, world.alice)
    # Confirmed with the previous step's code (inside the drift window), so the current code
    # is still unused for the test: each code works once. The clock stands still meanwhile:
    # were the 30-second step to turn between computing the code and checking it, the code
    # would be two steps old and refused.
    with time_machine.travel(datetime.now(UTC), tick=False):
        client.post(TWO_FACTOR, {"action": "confirm", "code": _previous_code(secret)})
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
    assert response.status_code == 200  # the recovery codes, shown this once
    assert b"Your recovery codes" in response.content
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
    assert totp_seed(user=world.alice) == alice_with_totp


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
    assert totp_seed(user=world.alice) == alice_with_totp
    assert Client().post(LOGIN, {"email": "alice@example.com",
                                 "password": PASSWORD})["Location"] == LOGIN_2FA


# --- The seed at rest ---------------------------------------------------------------------------


def test_the_user_row_holds_the_seed_sealed_never_in_clear(world, alice_with_totp):
    stored = User.objects.get(pk=world.alice.pk).totp_secret
    assert stored.startswith("v1:") and alice_with_totp not in stored


def test_a_sealed_seed_copied_to_another_user_does_not_open(world, alice_with_totp):
    User.objects.filter(pk=world.bob.pk).update(
        totp_secret=User.objects.get(pk=world.alice.pk).totp_secret, totp_enabled=True)
    with pytest.raises(VaultError):
        totp_seed(user=User.objects.get(pk=world.bob.pk))


def test_an_unopenable_seed_refuses_the_sign_in_with_a_clear_message(world, alice_with_totp,
                                                                      settings):
    settings.AITRADER_VAULT_KEYS = [f"other:{encode_key(bytes(32))}"]
    client = Client()
    client.post(LOGIN, {"email": world.alice.email, "password": PASSWORD})
    response = client.post(LOGIN_2FA, {"code": pyotp.TOTP(alice_with_totp).now()})
    assert response.status_code == 200
    assert b"cannot be checked now" in response.content
    assert client.get(ME).status_code in (401, 403)


def test_rotation_reseals_seeds_so_the_old_master_key_can_go(world, alice_with_totp, settings):
    old = list(settings.AITRADER_VAULT_KEYS)
    settings.AITRADER_VAULT_KEYS = [f"next:{encode_key(bytes(range(32)))}", *old]
    report = rotate_master_keys()
    assert (report.resealed_user_secrets, report.failed_users) == (1, [])
    settings.AITRADER_VAULT_KEYS = settings.AITRADER_VAULT_KEYS[:1]  # the old key removed
    alice = User.objects.get(pk=world.alice.pk)
    assert alice.totp_secret.startswith("v1:next:")
    assert totp_seed(user=alice) == alice_with_totp
    assert rotate_master_keys().resealed_user_secrets == 0  # nothing left to do


def test_the_migration_seals_seeds_stored_in_clear(world):
    seed = pyotp.random_base32()
    User.objects.filter(pk=world.alice.pk).update(totp_secret=seed, totp_enabled=True)
    sealed = import_module("tenants.migrations.0003_totp_secret_sealed")
    sealed.seal_plaintext_seeds(django_apps, None)
    sealed.seal_plaintext_seeds(django_apps, None)  # a second run leaves sealed seeds alone
    alice = User.objects.get(pk=world.alice.pk)
    assert alice.totp_secret.startswith("v1:") and totp_seed(user=alice) == seed


def test_a_code_signs_in_once(alice_with_totp, world):
    code = pyotp.TOTP(alice_with_totp).now()
    first, second = Client(), Client()
    for client in (first, second):
        client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    assert first.post(LOGIN_2FA, {"code": code}).status_code == 302
    replayed = second.post(LOGIN_2FA, {"code": code})
    assert replayed.status_code == 200 and b"not valid" in replayed.content
    assert second.get(ME).status_code in (401, 403)


def test_a_code_older_than_the_last_one_accepted_is_refused(alice_with_totp, world):
    now = datetime.now(UTC)
    with time_machine.travel(now, tick=False):
        client = Client()
        client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
        assert client.post(LOGIN_2FA, {"code": pyotp.TOTP(alice_with_totp).now()}
                           ).status_code == 302
        older = pyotp.TOTP(alice_with_totp).at(now - timedelta(seconds=30))
        assert not services.totp_verify(user=User.objects.get(pk=world.alice.pk), code=older)
