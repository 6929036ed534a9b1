"""Who may do what: roles and key scopes, the control knob, and the DRF permission layer."""
from __future__ import annotations

import pytest
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from aitrader.errors import Forbidden
from dashboard.apis.permissions import TenantScopePermission
from tenants.actors import Actor
from tenants.models import ApiKey, Membership, Role, Scope
from tenants.services import api_key_issue
from tests.base import make_user, owner_actor

# --- Probe endpoints, served from this module's urlpatterns ------------------------------------


class ControlProbe(APIView):
    """GET needs read, POST needs control: the shape of a bot's pause endpoint."""

    permission_classes = [TenantScopePermission]
    scope_map = {"POST": Scope.CONTROL}

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True, "via": request.auth.via})

    def delete(self, request):
        return Response(status=204)  # implemented, but not in scope_map: nobody may call it


class AdminSessionProbe(APIView):
    """Key management: signed-in admins only."""

    permission_classes = [TenantScopePermission]
    session_only = True
    required_role = Role.ADMIN

    def get(self, request):
        return Response({"ok": True})


class UndeclaredProbe(APIView):
    """Declares no permissions, so the project default (DenyAll) applies."""

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("probe/control/", ControlProbe.as_view()),
    path("probe/admin-session/", AdminSessionProbe.as_view()),
    path("probe/undeclared/", UndeclaredProbe.as_view()),
    path("accounts/", include("dashboard.accounts.urls")),
    path("", include("dashboard.urls")),
]
THIS_MODULE = __name__


def _member(world, role: str) -> Actor:
    user = make_user(f"{role}@example.com")
    return Actor.for_member(Membership.objects.create(tenant=world.tenant_a, user=user, role=role))


def _key(world, scopes: list[str]) -> tuple[ApiKey, str]:
    return api_key_issue(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), name="probe",
                         scopes=scopes)


def _session_client(world, role: str) -> APIClient:
    client = APIClient()
    client.force_login(_member(world, role).user)
    return client


# --- Roles ----------------------------------------------------------------------------------

ROLE_MATRIX = {
    Role.VIEWER: {Scope.READ, Scope.EXPORT},
    Role.TRADER: {Scope.READ, Scope.EXPORT, Scope.CONTROL},
    Role.ADMIN: {Scope.READ, Scope.EXPORT, Scope.CONTROL, Scope.ADMIN},
    Role.OWNER: {Scope.READ, Scope.EXPORT, Scope.CONTROL, Scope.ADMIN},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("scope", list(Scope))
def test_it_maps_each_role_to_the_scopes_it_may_use(world, role, scope):
    actor = _member(world, role)
    assert actor.can(scope) is (scope in ROLE_MATRIX[role])


@pytest.mark.parametrize("role,minimum,allowed", [
    (Role.VIEWER, Role.TRADER, False),
    (Role.TRADER, Role.TRADER, True),
    (Role.TRADER, Role.ADMIN, False),
    (Role.ADMIN, Role.ADMIN, True),
    (Role.ADMIN, Role.OWNER, False),
    (Role.OWNER, Role.OWNER, True),
])
def test_it_orders_roles_viewer_trader_admin_owner(world, role, minimum, allowed):
    assert _member(world, role).has_role(minimum) is allowed


def test_it_explains_a_role_refusal(world):
    with pytest.raises(Forbidden) as refused:
        _member(world, Role.VIEWER).require(Scope.CONTROL)
    assert "viewer" in refused.value.message
    assert "trader" in refused.value.message


# --- Keys -----------------------------------------------------------------------------------

@pytest.mark.parametrize("scopes,allowed", [
    (["read"], {Scope.READ}),
    (["export"], {Scope.EXPORT}),
    (["read", "control"], {Scope.READ, Scope.CONTROL}),
    (["admin"], set(Scope)),
])
def test_it_lets_a_key_use_only_its_scopes_and_admin_implies_all(world, scopes, allowed):
    actor = Actor.for_key(_key(world, scopes)[0])
    for scope in Scope:
        assert actor.can(scope) is (scope in allowed), scope


def test_it_refuses_control_to_a_read_key_by_default(world, settings):
    settings.AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL = False
    actor = Actor.for_key(world.key_row(world.read_key_a))
    with pytest.raises(Forbidden) as refused:
        actor.require(Scope.CONTROL)
    assert "'control'" in refused.value.message


def test_it_lets_any_tenant_key_control_when_the_knob_is_on(world, settings):
    settings.AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL = True
    actor = Actor.for_key(world.key_row(world.read_key_a))
    assert actor.can(Scope.CONTROL)
    assert not actor.can(Scope.ADMIN)
    assert not actor.can(Scope.EXPORT)


def test_it_gives_keys_no_role(world):
    actor = Actor.for_key(_key(world, ["admin"])[0])
    assert not actor.has_role(Role.VIEWER)
    with pytest.raises(Forbidden):
        actor.require_role(Role.VIEWER)


def test_it_lets_the_system_actor_do_everything(world):
    actor = Actor.system(world.tenant_a)
    assert actor.is_system
    assert all(actor.can(scope) for scope in Scope)
    assert actor.has_role(Role.OWNER)


def test_it_labels_actors_for_the_audit_log(world):
    assert _member(world, Role.TRADER).label == "trader@example.com"
    api_key = world.key_row(world.read_key_a)
    assert Actor.for_key(api_key).label == f"key {api_key.prefix}"
    assert Actor.system(world.tenant_a, via="cli").label == "cli"


# --- The DRF permission layer ----------------------------------------------------------------

pytestmark_urls = pytest.mark.urls(THIS_MODULE)


@pytestmark_urls
def test_it_lets_a_read_key_read_but_not_control(world):
    client = world.client_with_key(world.read_key_a)
    assert client.get("/probe/control/").status_code == 200
    response = client.post("/probe/control/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytestmark_urls
def test_it_lets_a_control_key_control(world):
    response = world.client_with_key(world.control_key_a).post("/probe/control/")
    assert response.status_code == 200
    assert response.json()["via"] == "api"


@pytestmark_urls
def test_it_lets_a_read_key_control_when_tenant_keys_may_control(world, settings):
    settings.AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL = True
    assert world.client_with_key(world.read_key_a).post("/probe/control/").status_code == 200


@pytestmark_urls
def test_it_lets_an_admin_scoped_key_control(world):
    _api_key, full_key = _key(world, ["admin"])
    assert world.client_with_key(full_key).post("/probe/control/").status_code == 200


@pytestmark_urls
@pytest.mark.parametrize("role,status", [
    (Role.VIEWER, 403), (Role.TRADER, 200), (Role.ADMIN, 200), (Role.OWNER, 200)])
def test_it_lets_signed_in_traders_and_above_control(world, role, status):
    response = _session_client(world, role).post("/probe/control/")
    assert response.status_code == status


@pytestmark_urls
def test_it_returns_401_on_a_control_endpoint_without_credentials(db):
    response = APIClient().post("/probe/control/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytestmark_urls
def test_it_refuses_api_keys_on_session_only_endpoints(world):
    _api_key, full_key = _key(world, ["admin"])
    response = world.client_with_key(full_key).get("/probe/admin-session/")
    assert response.status_code == 403
    assert "session" in response.json()["error"]["message"]


@pytestmark_urls
@pytest.mark.parametrize("role,status", [
    (Role.VIEWER, 403), (Role.TRADER, 403), (Role.ADMIN, 200), (Role.OWNER, 200)])
def test_it_requires_the_declared_role_on_session_endpoints(world, role, status):
    assert _session_client(world, role).get("/probe/admin-session/").status_code == status


@pytestmark_urls
def test_it_denies_everyone_on_an_endpoint_without_declared_permissions(world):
    _api_key, full_key = _key(world, ["admin"])
    assert world.client_with_key(full_key).get("/probe/undeclared/").status_code == 403
    assert world.client_for(world.alice).get("/probe/undeclared/").status_code == 403
    assert APIClient().get("/probe/undeclared/").status_code == 401


@pytestmark_urls
def test_it_refuses_unsafe_methods_missing_from_the_scope_map(world):
    _api_key, full_key = _key(world, ["admin"])
    response = world.client_with_key(full_key).delete("/probe/control/")
    assert response.status_code == 403
    assert world.client_for(world.alice).delete("/probe/control/").status_code == 403
