"""/api/v1/api-keys/: only a signed-in admin or owner manages keys; a key is shown once."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiKey, AuditEvent, Role
from tenants.services import api_key_issue
from tests.base import owner_actor
from tests.dashboard.conftest import member_client

KEYS = "/api/v1/api-keys/"
ME = "/api/v1/me/"


@pytest.fixture
def owner(world):
    return world.client_for(world.alice)


def _create(client, **body) -> dict:
    response = client.post(KEYS, {"name": "ci", "scopes": ["read"]} | body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- who may manage keys -----------------------------------------------------------------------

def test_a_key_cannot_list_or_create_keys_even_with_the_admin_scope(world):
    _row, admin_key = api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                    name="admin", scopes=["admin"])
    before = ApiKey.objects.count()
    for key in (world.control_key_a, admin_key):
        client = world.client_with_key(key)
        listed = client.get(KEYS)
        assert listed.status_code == 403
        assert "signed-in" in listed.json()["error"]["message"]
        assert client.post(KEYS, {"name": "x", "scopes": ["read"]},
                           format="json").status_code == 403
    assert ApiKey.objects.count() == before


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_a_member_below_admin_cannot_manage_keys(world, role):
    client = member_client(world.tenant_a, role)
    assert client.get(KEYS).status_code == 403
    response = client.post(KEYS, {"name": "x", "scopes": ["read"]}, format="json")
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


def test_an_admin_session_lists_and_creates_keys(world):
    client = member_client(world.tenant_a, Role.ADMIN)
    assert client.get(KEYS).status_code == 200
    _create(client)


def test_without_a_credential_it_is_401(db):
    assert APIClient().get(KEYS).status_code == 401


def test_a_revoke_by_a_key_is_refused(world):
    row = world.key_row(world.read_key_a)
    response = world.client_with_key(world.control_key_a).post(f"{KEYS}{row.pk}/revoke/")
    assert response.status_code == 403
    assert ApiKey.objects.get(pk=row.pk).revoked_at is None


# --- the lifecycle -----------------------------------------------------------------------------

def test_a_new_key_is_returned_once_and_works(world, owner):
    body = _create(owner, name="deploy bot", scopes=["read", "control"], days=30)
    full_key = body["key"]
    assert full_key.startswith(f"ait_{body['prefix']}_")
    assert body["scopes"] == ["control", "read"]
    me = world.client_with_key(full_key).get(ME)
    assert me.status_code == 200
    assert me.json()["tenant"]["slug"] == world.tenant_a.slug
    assert me.json()["scopes"] == ["control", "read"]
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action="api_key.issue", target=body["prefix"]).exists()


def test_the_list_never_shows_a_key_or_its_hash(world, owner):
    full_key = _create(owner)["key"]
    response = owner.get(KEYS)
    text = response.content.decode()
    row = ApiKey.objects.get(prefix=full_key.split("_")[1])
    assert full_key not in text
    assert full_key.split("_", 2)[2] not in text  # nor the secret part alone
    assert row.key_hash not in text
    assert "hash" not in text and "pepper" not in text
    for listed in response.json()["results"]:
        assert "key" not in listed
    assert row.prefix in text


def test_the_list_shows_only_this_tenants_keys(world, owner):
    prefixes = {row["prefix"] for row in owner.get(KEYS).json()["results"]}
    assert prefixes == set(ApiKey.objects.for_tenant(world.tenant_a).values_list("prefix",
                                                                                  flat=True))
    assert world.key_row(world.read_key_b).prefix not in prefixes


def test_a_revoked_key_is_refused_on_its_next_request(world, owner):
    created = _create(owner)
    client = world.client_with_key(created["key"])
    assert client.get(ME).status_code == 200
    response = owner.post(f"{KEYS}{created['id']}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    refused = client.get(ME)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_revoking_another_tenants_key_is_a_404(world, owner):
    theirs = world.key_row(world.read_key_b)
    assert owner.post(f"{KEYS}{theirs.pk}/revoke/").status_code == 404
    assert world.client_with_key(world.read_key_b).get(ME).status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"scopes": ["read", "root"]}, "scopes"),
    ({"scopes": []}, "scopes"),
    ({"days": 400}, "days"),
    ({"days": 0}, "days"),
    ({"name": ""}, "name"),
])
def test_bad_input_is_a_400_naming_the_field(owner, body, field):
    before = ApiKey.objects.count()
    response = owner.post(KEYS, {"name": "ci", "scopes": ["read"]} | body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert ApiKey.objects.count() == before


def test_the_key_list_costs_a_fixed_number_of_queries(world, owner, django_assert_num_queries):
    owner.get(KEYS)
    with django_assert_num_queries(6):  # session, user, membership, member, count, page
        owner.get(KEYS)
    for n in range(27):
        api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), name=str(n),
                      scopes=["read"])
    with django_assert_num_queries(6):
        assert len(owner.get(KEYS).json()["results"]) == 29
