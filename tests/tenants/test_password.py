"""Password reset by e-mail, password change ending other sessions, hashing."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from django.conf import settings
from django.core import mail
from django.test import Client

from aitrader.settings import base as base_settings
from tests.base import PASSWORD

RESET = "/accounts/password/reset/"
CHANGE = "/accounts/password/change/"
LOGIN = "/accounts/login/"
ME = "/api/v1/me/"
NEW_PASSWORD = "quartz-meadow-violin-77"
LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/[^\s]+/)")


def _signed_in(email: str, password: str = PASSWORD) -> Client:
    client = Client()
    response = client.post(LOGIN, {"email": email, "password": password})
    assert response.status_code == 302, "sign-in failed"
    return client


def _reset_link(client: Client, email: str) -> str:
    response = client.post(RESET, {"email": email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    return LINK.search(mail.outbox[0].body).group(1)


# --- Reset ------------------------------------------------------------------------------------

def test_it_uses_the_console_email_backend_in_the_embedded_default(tmp_path):
    env = {"PATH": os.environ["PATH"], "AITRADER_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", "from aitrader.settings import base; print(base.EMAIL_BACKEND)"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend"


def test_it_uses_the_locmem_email_backend_in_tests(settings):
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"


def test_it_emails_a_reset_link_to_the_account(world, client):
    link = _reset_link(client, "alice@example.com")
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "alice@example.com" in message.body
    assert link.startswith("/accounts/password/reset/")


def test_it_answers_the_same_for_an_unknown_address_and_sends_nothing(world, client):
    response = client.post(RESET, {"email": "stranger@example.com"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert mail.outbox == []


def test_it_sets_a_new_password_through_the_link(world, client):
    link = _reset_link(client, "alice@example.com")
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert b'name="new_password1"' in form_page.content
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": NEW_PASSWORD,
                                     "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/complete/"
    world.alice.refresh_from_db()
    assert world.alice.check_password(NEW_PASSWORD)
    assert not world.alice.check_password(PASSWORD)
    _signed_in("alice@example.com", NEW_PASSWORD)


def test_it_accepts_the_link_only_once(world, client):
    link = _reset_link(client, "alice@example.com")
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    replay = Client().get(link, follow=True)
    assert replay.status_code == 200
    assert b"This link is invalid or has been used." in replay.content
    assert b'name="new_password1"' not in replay.content
    again = Client().post(link, {"new_password1": "another-pass-phrase-9",
                                 "new_password2": "another-pass-phrase-9"})
    assert again.status_code == 200
    world.alice.refresh_from_db()
    assert world.alice.check_password(NEW_PASSWORD)


def test_it_refuses_a_weak_password_on_reset(world, client):
    link = _reset_link(client, "alice@example.com")
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": "password123",
                                     "new_password2": "password123"})
    assert response.status_code == 200
    assert b"too common" in response.content
    world.alice.refresh_from_db()
    assert world.alice.check_password(PASSWORD)


def test_it_refuses_a_tampered_link(world, client):
    link = _reset_link(client, "alice@example.com")
    tampered = link[:-3] + ("x" if link[-3] != "x" else "y") + link[-2:]
    response = client.get(tampered, follow=True)
    assert b"This link is invalid or has been used." in response.content


# --- Change -------------------------------------------------------------------------------------

def test_it_requires_sign_in_to_change_the_password(db, client):
    response = client.get(CHANGE)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_it_ends_other_sessions_but_keeps_the_current_one(world):
    current = _signed_in("alice@example.com")
    other = _signed_in("alice@example.com")
    assert other.get(ME).status_code == 200

    response = current.post(CHANGE, {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                                     "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/change/done/"
    assert current.get(ME).status_code == 200
    assert other.get(ME).status_code == 401
    assert other.get("/")["Location"].startswith(LOGIN)


def test_it_leaves_other_users_signed_in_after_a_change(world):
    current = _signed_in("alice@example.com")
    bob = _signed_in("bob@example.com")
    current.post(CHANGE, {"old_password": PASSWORD, "new_password1": NEW_PASSWORD,
                          "new_password2": NEW_PASSWORD})
    assert bob.get(ME).status_code == 200


def test_it_refuses_a_change_with_the_wrong_old_password(world):
    current = _signed_in("alice@example.com")
    other = _signed_in("alice@example.com")
    response = current.post(CHANGE, {"old_password": "not-my-password-1",
                                     "new_password1": NEW_PASSWORD,
                                     "new_password2": NEW_PASSWORD})
    assert response.status_code == 200
    assert b"old password was entered incorrectly" in response.content
    world.alice.refresh_from_db()
    assert world.alice.check_password(PASSWORD)
    assert other.get(ME).status_code == 200


def test_it_refuses_a_weak_new_password(world):
    current = _signed_in("alice@example.com")
    response = current.post(CHANGE, {"old_password": PASSWORD, "new_password1": "short",
                                     "new_password2": "short"})
    assert response.status_code == 200
    assert b"too short" in response.content
    world.alice.refresh_from_db()
    assert world.alice.check_password(PASSWORD)


# --- Hashing ------------------------------------------------------------------------------------

def test_it_puts_argon2_first_outside_tests():
    assert base_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_it_hashes_with_argon2_when_configured(world, settings):
    settings.PASSWORD_HASHERS = base_settings.PASSWORD_HASHERS
    world.alice.set_password(NEW_PASSWORD)
    world.alice.save()
    world.alice.refresh_from_db()
    assert world.alice.password.startswith("argon2$")
    assert world.alice.check_password(NEW_PASSWORD)
