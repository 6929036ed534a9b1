"""Sign-up, login and logout pages."""
from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from tenants.models import Membership, Role, Tenant, User
from tests.base import PASSWORD

SIGNUP = "/accounts/signup/"
LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
ME = "/api/v1/me/"
GOOD_PASSWORD = "plum-orbit-lantern-42"


LINK_RE = re.compile(r"http://testserver(/accounts/signup/confirm/[^/\s]+/)")


def _sign_up(client: Client, **overrides):
    """Both steps: the form, then the password at the e-mailed link (when one was sent)."""
    data = {"email": "dora@example.com", "full_name": "Dora", "workspace_name": "Dora Capital",
            "password": GOOD_PASSWORD, **overrides}
    password = data.pop("password")
    first = client.post(SIGNUP, data)
    links = [LINK_RE.search(message.body) for message in mail.outbox]
    if first.status_code != 302 or not any(links):
        return first
    return client.post([link for link in links if link][-1].group(1), {"password": password})


def _session_key(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


# --- Sign-up ------------------------------------------------------------------------------------

def test_it_shows_the_sign_up_form(db, client):
    response = client.get(SIGNUP)
    assert response.status_code == 200
    assert b'name="workspace_name"' in response.content


def test_it_creates_user_tenant_and_owner_membership_and_signs_in(db, client):
    response = _sign_up(client)
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="dora@example.com")
    assert user.full_name == "Dora"
    assert user.check_password(GOOD_PASSWORD)
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.tenant.name == "Dora Capital"
    assert membership.tenant.slug == "dora-capital"
    assert membership.tenant.plan == "free"
    me = client.get(ME)
    assert me.status_code == 200
    assert me.json()["tenant"]["slug"] == "dora-capital"
    assert me.json()["role"] == "owner"


def test_it_gives_each_workspace_a_unique_slug(db, client):
    _sign_up(client)
    _sign_up(Client(), email="eve@example.com")
    assert sorted(Tenant.objects.values_list("slug", flat=True)) == [
        "dora-capital", "dora-capital-2"]


def test_it_stores_the_email_in_lowercase(db, client):
    _sign_up(client, email="Dora@Example.COM")
    assert User.objects.filter(email="dora@example.com").exists()


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@example.com"])
def test_it_answers_a_duplicate_email_like_any_other_and_creates_nothing(world, client, email):
    # The page says nothing about the address (tests/tenants/test_signup_enumeration.py).
    tenants_before = Tenant.objects.count()
    response = _sign_up(client, email=email)
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/sent/"
    assert Tenant.objects.count() == tenants_before
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert client.get(ME).status_code == 401


@pytest.mark.parametrize("password,problem", [
    ("short1", b"at least 10 characters"),
    ("password123", b"too common"),
    ("5938271640352", b"entirely numeric"),
    ("dora@example.com", b"too similar"),
])
def test_it_refuses_a_weak_password_naming_the_problem(db, client, password, problem):
    response = _sign_up(client, password=password)
    assert response.status_code == 200
    assert problem in response.content
    assert not User.objects.filter(email="dora@example.com").exists()
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("field", ["email", "workspace_name", "password"])
def test_it_requires_each_field(db, client, field):
    response = _sign_up(client, **{field: ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert not User.objects.exists()


def test_it_refuses_an_invalid_email(db, client):
    response = _sign_up(client, email="not-an-email")
    assert response.status_code == 200
    assert b"Enter a valid email address." in response.content


# --- Login --------------------------------------------------------------------------------------

def test_it_shows_the_login_form(db, client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_it_signs_in_and_chooses_the_first_tenant(world, client):
    response = client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["tenant_id"] == world.tenant_a.pk
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"


def test_it_accepts_the_email_in_any_case(world, client):
    response = client.post(LOGIN, {"email": "Alice@Example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(ME).status_code == 200


def test_it_rotates_the_session_key_on_login(world, client):
    session = client.session
    session["before_login"] = True
    session.save()
    before = _session_key(client)
    assert before
    client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD})
    after = _session_key(client)
    assert after and after != before
    assert client.get(ME).status_code == 200


@pytest.mark.parametrize("email,password", [
    ("alice@example.com", "wrong-password-123"),
    ("nobody@example.com", PASSWORD),
])
def test_it_refuses_wrong_credentials_with_one_form_error(world, client, email, password):
    response = client.post(LOGIN, {"email": email, "password": password})
    assert response.status_code == 200
    assert b"E-mail or password is not right." in response.content
    assert "_auth_user_id" not in client.session
    assert client.get(ME).status_code == 401


def test_it_refuses_a_deactivated_user(world, client):
    User.objects.filter(pk=world.bob.pk).update(is_active=False)
    response = client.post(LOGIN, {"email": "bob@example.com", "password": PASSWORD})
    assert response.status_code == 200
    assert client.get(ME).status_code == 401


def test_it_follows_a_local_next_url(world, client):
    response = client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD,
                                   "next": "/accounts/members/"})
    assert response["Location"] == "/accounts/members/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "javascript:alert(1)"])
def test_it_ignores_an_off_site_next_url(world, client, target):
    response = client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD,
                                   "next": target})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_it_sends_signed_out_visitors_to_login(db, client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


# --- Logout -------------------------------------------------------------------------------------

def test_it_refuses_logout_by_get(world, client):
    client.force_login(world.alice)
    response = client.get(LOGOUT)
    assert response.status_code == 405
    assert client.get(ME).status_code == 200


def test_it_signs_out_by_post(world, client):
    client.force_login(world.alice)
    response = client.post(LOGOUT)
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get(ME).status_code == 401


def test_it_requires_a_csrf_token_for_logout(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    assert client.post(LOGOUT).status_code == 403
    assert client.get(ME).status_code == 200
