"""GET /api/v1/me/: which tenant a credential acts in, with its scopes or role."""
from __future__ import annotations

from rest_framework.test import APIClient

from tenants.models import Membership, Role
from tests.base import make_user

ME = "/api/v1/me/"


def test_it_returns_tenant_and_scopes_for_a_read_key(world):
    response = world.client_with_key(world.read_key_a).get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "tenant": {"slug": "tenant-a", "name": "Tenant A", "plan": "pro"},
        "scopes": ["read"],
    }


def test_it_returns_every_scope_of_a_control_key_sorted(world):
    response = world.client_with_key(world.control_key_a, header="x-api-key").get(ME)
    assert response.json()["scopes"] == ["control", "export", "read"]
    assert "role" not in response.json()


def test_it_answers_for_the_keys_own_tenant(world):
    response = world.client_with_key(world.read_key_b).get(ME)
    assert response.json()["tenant"] == {"slug": "tenant-b", "name": "Tenant B", "plan": "pro"}


def test_it_returns_tenant_and_role_for_a_session(world):
    response = world.client_for(world.alice).get(ME)
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"] == {"slug": "tenant-a", "name": "Tenant A", "plan": "pro"}
    assert body["role"] == "owner"
    assert "scopes" not in body


def test_it_reports_the_viewer_role_of_bob(world):
    assert world.client_for(world.bob).get(ME).json()["role"] == "viewer"


def test_it_reports_a_changed_role_on_the_next_request(world):
    client = world.client_for(world.bob)
    Membership.objects.filter(tenant=world.tenant_a, user=world.bob).update(role=Role.TRADER)
    assert client.get(ME).json()["role"] == "trader"


def test_it_returns_401_in_the_error_shape_without_credentials(db):
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "not_authenticated",
                                         "message": response.json()["error"]["message"]}}
    assert "credentials" in response.json()["error"]["message"].lower()


def test_it_returns_401_in_the_error_shape_for_a_bad_key(world):
    response = world.client_with_key("ait_nothing").get(ME)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "authentication_failed"
    assert "invalid, expired or revoked" in error["message"]


def test_it_returns_401_for_a_user_without_membership(db):
    client = APIClient()
    client.force_login(make_user("nobody@example.com"))
    assert client.get(ME).status_code == 401


def test_it_serves_a_key_request_with_one_lookup_and_a_throttled_touch(world,
                                                                        django_assert_num_queries):
    client = world.client_with_key(world.read_key_a)
    with django_assert_num_queries(2):  # the key with its tenant, then last_used_at
        assert client.get(ME).status_code == 200
    with django_assert_num_queries(1):  # touched less than a minute ago: no write
        assert client.get(ME).status_code == 200


def test_it_is_described_in_the_openapi_schema(world):
    response = world.client_with_key(world.read_key_a).get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/me/" in response.content
