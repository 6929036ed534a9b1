"""Sign-up and password reset do not tell whether an address has an account; the rest is said
by e-mail, and the e-mails those pages send are rate limited per address and per IP."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from tenants.models import Membership, Role, Tenant, User
from tests.base import PASSWORD

SIGNUP = "/accounts/signup/"
RESET = "/accounts/password/reset/"
ME = "/api/v1/me/"
GOOD_PASSWORD = "plum-orbit-lantern-42"
LINK_RE = re.compile(r"http://testserver(/accounts/signup/confirm/[^/\s]+/)")


def _sign_up(client: Client, email: str = "dora@example.com", **extra):
    data = {"email": email, "full_name": "Dora", "workspace_name": "Dora Capital", **extra}
    return client.post(SIGNUP, data, follow=True)


def _link(message) -> str:
    return LINK_RE.search(message.body).group(1)


# --- One answer for both --------------------------------------------------------------------

def test_a_taken_and_a_free_address_get_the_same_answer(world):
    taken, free = _sign_up(Client(), "alice@example.com"), _sign_up(Client(), "dora@example.com")
    assert taken.redirect_chain == free.redirect_chain
    assert taken.status_code == free.status_code == 200

    def visible(response) -> str:  # the page without its per-response tokens
        return re.sub(r'(value|nonce)="[^"]*"', "", response.content.decode())
    assert visible(taken) == visible(free)
    assert b"exists" not in taken.content and b"Check your e-mail" in taken.content
    assert not User.objects.filter(email="dora@example.com").exists()  # not before the link


def test_the_owner_of_a_taken_address_is_told_by_email_to_sign_in(world):
    tenants_before = Tenant.objects.count()
    client = Client()
    _sign_up(client, "ALICE@example.com")
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert "already has an account" in message.body
    assert "http://testserver/accounts/login/" in message.body
    assert "http://testserver/accounts/password/reset/" in message.body
    assert not LINK_RE.search(message.body)
    assert Tenant.objects.count() == tenants_before
    assert client.get(ME).status_code == 401


def test_a_free_address_gets_a_link_that_finishes_the_sign_up(db):
    client = Client()
    _sign_up(client, "Dora@Example.COM")
    [message] = mail.outbox
    assert message.to == ["dora@example.com"]
    page = client.get(_link(message))
    assert page.status_code == 200
    assert b"dora@example.com" in page.content and b"Dora Capital" in page.content
    response = client.post(_link(message), {"password": GOOD_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(email="dora@example.com")
    assert user.check_password(GOOD_PASSWORD) and user.full_name == "Dora"
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER and membership.tenant.name == "Dora Capital"
    assert client.get(ME).json()["tenant"]["slug"] == "dora-capital"


def test_the_link_works_in_another_browser_too(db):
    _sign_up(Client())
    other = Client()
    other.post(_link(mail.outbox[0]), {"password": GOOD_PASSWORD})
    assert other.get(ME).status_code == 200


def test_the_link_works_once(db):
    _sign_up(Client())
    link = _link(mail.outbox[0])
    Client().post(link, {"password": GOOD_PASSWORD})
    again = Client()
    response = again.post(link, {"password": "another-long-passphrase-9"}, follow=True)
    assert b"already has an account" in response.content
    assert User.objects.get(email="dora@example.com").check_password(GOOD_PASSWORD)
    assert again.get(ME).status_code == 401


def test_the_link_expires_after_two_days(db):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        _sign_up(Client())
        link = _link(mail.outbox[0])
        traveller.move_to(start + timedelta(days=2, seconds=1))
        response = Client().get(link, follow=True)
    assert b"invalid or has expired" in response.content
    assert not User.objects.exists()


def test_a_tampered_link_is_refused(db):
    _sign_up(Client())
    link = _link(mail.outbox[0])
    forged = link.replace("/confirm/", "/confirm/x")
    assert b"invalid or has expired" in Client().get(forged, follow=True).content


@pytest.mark.parametrize("password,problem", [
    ("short1", b"at least 10 characters"),
    ("password123", b"too common"),
    ("dora@example.com", b"too similar"),
])
def test_a_weak_password_at_the_link_is_refused_naming_the_problem(db, password, problem):
    client = Client()
    _sign_up(client)
    response = client.post(_link(mail.outbox[0]), {"password": password})
    assert response.status_code == 200 and problem in response.content
    assert not User.objects.exists()


@pytest.mark.parametrize("field", ["email", "workspace_name"])
def test_it_still_requires_each_field(db, field):
    response = Client().post(SIGNUP, {"email": "dora@example.com", "workspace_name": "Dora",
                                      field: ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert not mail.outbox


# --- Rate limits on the e-mails -------------------------------------------------------------

@pytest.fixture
def mail_limit(settings):
    settings.AITRADER_RATE_LIMIT_ACCOUNT_EMAILS_PER_HOUR = 3


def _reset(email: str, ip: str):
    return Client(REMOTE_ADDR=ip).post(RESET, {"email": email})


def test_password_resets_are_limited_per_address_from_any_ip(world, mail_limit):
    answers = [_reset("alice@example.com", f"10.0.0.{n}").status_code for n in range(4)]
    assert answers == [302, 302, 302, 429]
    assert len(mail.outbox) == 3
    assert _reset("bob@example.com", "10.0.0.9").status_code == 302  # another address


def test_password_resets_are_limited_per_ip_across_addresses(world, mail_limit):
    answers = [_reset(f"user{n}@example.com", "10.0.0.1").status_code for n in range(13)]
    assert answers == [302] * 12 + [429]  # an IP gets 4x an address
    assert _reset("alice@example.com", "10.0.0.2").status_code == 302  # another IP


def test_a_reset_answers_alike_for_known_and_unknown_addresses(world):
    known, unknown = _reset("alice@example.com", "10.0.0.1"), _reset("no@example.com", "10.0.0.1")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]


def test_sign_up_emails_are_limited_per_address_too(world, mail_limit):
    answers = [Client(REMOTE_ADDR=f"10.0.1.{n}").post(SIGNUP, {
        "email": "alice@example.com", "workspace_name": "W"}).status_code for n in range(4)]
    assert answers == [302, 302, 302, 429]
    assert len(mail.outbox) == 3


def test_the_signed_in_password_still_works_after_all_this(world):
    # The existing account is untouched by sign-up attempts for its address.
    _sign_up(Client(), "alice@example.com")
    client = Client()
    client.post("/accounts/login/", {"email": "alice@example.com", "password": PASSWORD})
    assert client.get(ME).status_code == 200
