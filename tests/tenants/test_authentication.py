"""API authentication: key headers, failing closed with 401, browser sessions with CSRF."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import Membership, Tenant
from tests.base import make_user

ME = "/api/v1/me/"


def _assert_401(response) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="aitrader"'
    error = response.json()["error"]
    assert set(error) >= {"code", "message"}
    assert error["message"]


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_it_accepts_the_key_in_either_header(world, header):
    response = world.client_with_key(world.read_key_a, header=header).get(ME)
    assert response.status_code == 200
    assert response.json()["tenant"]["slug"] == "tenant-a"


def test_it_accepts_a_lowercase_bearer_scheme(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {world.read_key_a}")
    assert client.get(ME).status_code == 200


def test_it_returns_401_with_www_authenticate_without_credentials(db):
    _assert_401(APIClient().get(ME))


def test_it_returns_401_for_a_wrong_secret_on_a_real_prefix(world):
    prefix = world.read_key_a.split("_")[1]
    forged = f"ait_{prefix}_{'A' * 43}"
    _assert_401(world.client_with_key(forged).get(ME))


def test_it_returns_401_for_a_well_formed_key_that_does_not_exist(world):
    _assert_401(world.client_with_key(f"ait_{'z' * 12}_{'B' * 43}").get(ME))


@pytest.mark.parametrize("mangle", [
    lambda key: "not-a-key",
    lambda key: "ait_",
    lambda key: key[:-1],
    lambda key: key + "x",
    lambda key: key.replace("ait_", "xyz_", 1),
    lambda key: key.replace("_", "-"),
    lambda key: "ait_abc_def",
    lambda key: key + "\u00e9",
], ids=["garbage", "bare-prefix", "short", "long", "wrong-marker", "no-separators", "tiny",
        "non-ascii"])
@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_it_returns_401_for_a_malformed_key(world, mangle, header):
    _assert_401(world.client_with_key(mangle(world.read_key_a), header=header).get(ME))


def test_it_returns_401_for_a_non_bearer_authorization_scheme(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {world.read_key_a}")
    _assert_401(client.get(ME))


def test_it_does_not_fall_back_to_the_session_when_a_bad_key_is_sent(world):
    client = world.client_for(world.alice)
    assert client.get(ME).status_code == 200
    client.credentials(HTTP_X_API_KEY="ait_bogus")
    _assert_401(client.get(ME))


def test_it_returns_401_for_a_key_of_a_suspended_tenant(world):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(status=Tenant.Status.SUSPENDED)
    _assert_401(world.client_with_key(world.read_key_a).get(ME))
    assert world.client_with_key(world.read_key_b).get(ME).status_code == 200


def test_it_authenticates_a_signed_in_member_by_session(world):
    response = world.client_for(world.bob).get(ME)
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"


def test_it_returns_401_for_a_signed_in_user_without_a_tenant(db):
    loner = make_user("loner@example.com")
    client = APIClient()
    client.force_login(loner)
    _assert_401(client.get(ME))


def test_it_returns_401_for_a_session_of_a_deactivated_user(world):
    client = world.client_for(world.bob)
    world.bob.is_active = False
    world.bob.save(update_fields=["is_active"])
    _assert_401(client.get(ME))


def test_it_returns_401_for_a_session_in_a_suspended_tenant(world):
    client = world.client_for(world.charlie)
    Tenant.objects.filter(pk=world.tenant_b.pk).update(status=Tenant.Status.SUSPENDED)
    _assert_401(client.get(ME))


def test_it_enforces_csrf_on_unsafe_session_requests(world):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.alice)
    response = client.post(ME, {}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_it_does_not_require_csrf_for_key_requests(world):
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.read_key_a}")
    assert client.get(ME).status_code == 200


def test_it_ignores_memberships_of_other_users_for_the_session(world):
    # charlie's session acts in tenant B only, even though A exists and has keys.
    assert Membership.objects.filter(user=world.charlie).count() == 1
    response = world.client_for(world.charlie).get(ME)
    assert response.json()["tenant"]["slug"] == "tenant-b"
