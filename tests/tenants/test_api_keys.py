"""API key lifecycle: minted once, stored as prefix + peppered HMAC, expiring, revocable."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aitrader.errors import Forbidden, NotFound, ValidationFailed
from tenants.actors import Actor
from tenants.models import ApiKey, AuditEvent, Membership, Role
from tenants.services import api_key_issue, api_key_revoke
from tests.base import make_user, owner_actor

ME = "/api/v1/me/"
KEY_SHAPE = re.compile(r"^ait_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$")
PEPPER = "7:" + "p" * 40
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _secret(full_key: str) -> str:
    return full_key.split("_", 2)[2]


def _issue(tenant, **kwargs) -> tuple[ApiKey, str]:
    kwargs.setdefault("name", "test key")
    kwargs.setdefault("scopes", ["read"])
    return api_key_issue(tenant=tenant, actor=owner_actor(tenant), **kwargs)


def _member_actor(tenant, role: str) -> Actor:
    user = make_user(f"{role}-member@example.com")
    return Actor.for_member(Membership.objects.create(tenant=tenant, user=user, role=role))


# --- Creation and storage --------------------------------------------------------------------

def test_it_returns_the_full_key_in_our_format_with_256_secret_bits(world):
    api_key, full_key = _issue(world.tenant_a)
    assert KEY_SHAPE.match(full_key)
    assert full_key.startswith(f"ait_{api_key.prefix}_")
    assert len(base64.urlsafe_b64decode(_secret(full_key) + "=")) == 32


def test_it_mints_a_different_key_each_time(world):
    first, second = _issue(world.tenant_a)[1], _issue(world.tenant_a)[1]
    assert first != second
    assert _secret(first) != _secret(second)


def test_it_stores_only_the_prefix_and_an_hmac_never_the_key(world):
    api_key, full_key = _issue(world.tenant_a)
    row = ApiKey.objects.filter(pk=api_key.pk).values().get()
    assert row["prefix"] == full_key.split("_")[1]
    assert len(row["key_hash"]) == 64
    for value in row.values():
        assert full_key not in str(value)
        assert _secret(full_key) not in str(value)


def test_it_leaves_the_secret_in_no_table_of_the_database(world):
    _api_key, full_key = _issue(world.tenant_a)
    tables = set(connection.introspection.table_names())
    assert ApiKey._meta.db_table in tables
    for table in sorted(tables & {model._meta.db_table for model in apps.get_models()}):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dump = repr(cursor.fetchall())
        assert _secret(full_key) not in dump, f"the key's secret leaked into {table}"


def test_it_records_the_issue_in_the_audit_log_without_the_key(world):
    api_key, full_key = _issue(world.tenant_a, scopes=["read", "export"])
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(action="api_key.issue",
                                                              target=api_key.prefix)
    assert event.actor_user == world.alice
    assert event.details["scopes"] == ["export", "read"]
    assert _secret(full_key) not in repr(event.details)


# --- Peppered hash -----------------------------------------------------------------------------

def test_it_hashes_with_the_current_pepper_not_secret_key(world, settings):
    settings.AITRADER_API_KEY_PEPPERS = [PEPPER]
    api_key, full_key = _issue(world.tenant_a)
    expected = hmac.new(b"p" * 40, full_key.encode(), hashlib.sha256).hexdigest()
    with_secret_key = hmac.new(settings.SECRET_KEY.encode(), full_key.encode(),
                               hashlib.sha256).hexdigest()
    assert api_key.key_hash == expected
    assert api_key.key_hash != with_secret_key
    assert api_key.pepper_version == "7"


def test_it_keeps_keys_valid_when_secret_key_changes(world, settings):
    settings.SECRET_KEY = "an-entirely-different-secret-key-after-rotation-0123456789"
    response = world.client_with_key(world.read_key_a).get(ME)
    assert response.status_code == 200


def test_it_rejects_keys_when_the_pepper_list_changes(world, settings):
    settings.AITRADER_API_KEY_PEPPERS = ["2:" + "n" * 40]
    response = world.client_with_key(world.read_key_a).get(ME)
    assert response.status_code == 401


def test_it_accepts_a_key_of_an_older_pepper_listed_second(world, settings):
    settings.AITRADER_API_KEY_PEPPERS = ["2:" + "n" * 40, *settings.AITRADER_API_KEY_PEPPERS]
    assert world.client_with_key(world.read_key_a).get(ME).status_code == 200
    new_key, new_full_key = _issue(world.tenant_a)
    assert new_key.pepper_version == "2"
    assert world.client_with_key(new_full_key).get(ME).status_code == 200


# --- Expiry --------------------------------------------------------------------------------------

def test_it_expires_keys_after_90_days_by_default(world):
    with time_machine.travel(T0, tick=False) as traveller:
        api_key, full_key = _issue(world.tenant_a)
        assert api_key.expires_at == T0 + timedelta(days=90)
        traveller.move_to(T0 + timedelta(days=90) - timedelta(seconds=1))
        assert world.client_with_key(full_key).get(ME).status_code == 200
        traveller.move_to(T0 + timedelta(days=90, seconds=1))
        assert world.client_with_key(full_key).get(ME).status_code == 401


def test_it_honours_a_custom_expiry(world):
    with time_machine.travel(T0, tick=False) as traveller:
        _api_key, full_key = _issue(world.tenant_a, days=7)
        traveller.move_to(T0 + timedelta(days=7, seconds=1))
        assert world.client_with_key(full_key).get(ME).status_code == 401


def test_it_accepts_an_expiry_of_365_days(world):
    with time_machine.travel(T0, tick=False):
        api_key, _full_key = _issue(world.tenant_a, days=365)
    assert api_key.expires_at == T0 + timedelta(days=365)


@pytest.mark.parametrize("days", [366, 1000, 0, -5])
def test_it_refuses_an_expiry_outside_1_to_365_days(world, days):
    before = ApiKey.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        _issue(world.tenant_a, days=days)
    assert refused.value.field == "days"
    assert "365" in refused.value.message
    assert ApiKey.objects.count() == before


# --- Revocation ----------------------------------------------------------------------------------

def test_it_returns_401_for_revoked_key_on_the_next_request(world):
    client = world.client_with_key(world.control_key_a)
    assert client.get(ME).status_code == 200
    api_key_revoke(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                   key_id=world.key_row(world.control_key_a).pk)
    response = client.get(ME)
    assert response.status_code == 401
    assert world.key_row(world.control_key_a).revoked_at is not None


def test_it_refuses_revocation_by_a_viewer(world):
    bob = Actor.for_member(Membership.objects.get(tenant=world.tenant_a, user=world.bob))
    with pytest.raises(Forbidden):
        api_key_revoke(tenant=world.tenant_a, actor=bob, key_id=world.key_row(world.read_key_a).pk)
    assert world.client_with_key(world.read_key_a).get(ME).status_code == 200


def test_it_treats_another_tenants_key_as_missing_when_revoking(world):
    with pytest.raises(NotFound):
        api_key_revoke(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                       key_id=world.key_row(world.read_key_b).pk)
    assert world.key_row(world.read_key_b).revoked_at is None
    assert world.client_with_key(world.read_key_b).get(ME).status_code == 200


def test_it_audits_a_revocation_once(world):
    key_id = world.key_row(world.read_key_a).pk
    for _ in range(2):
        api_key_revoke(tenant=world.tenant_a, actor=owner_actor(world.tenant_a), key_id=key_id)
    revocations = AuditEvent.objects.for_tenant(world.tenant_a).filter(action="api_key.revoke")
    assert revocations.count() == 1


# --- last_used_at ------------------------------------------------------------------------------

def _key_updates(queries: CaptureQueriesContext) -> list[str]:
    table = ApiKey._meta.db_table
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].upper().startswith("UPDATE") and table in q["sql"]]


def test_it_writes_last_used_at_at_most_once_a_minute(world):
    with time_machine.travel(T0, tick=False) as traveller:
        api_key, full_key = _issue(world.tenant_a)
        client = world.client_with_key(full_key)
        with CaptureQueriesContext(connection) as first:
            assert client.get(ME).status_code == 200
        assert len(_key_updates(first)) == 1
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0

        traveller.move_to(T0 + timedelta(seconds=30))
        with CaptureQueriesContext(connection) as second:
            assert client.get(ME).status_code == 200
        assert _key_updates(second) == []
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0

        traveller.move_to(T0 + timedelta(seconds=61))
        assert client.get(ME).status_code == 200
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == T0 + timedelta(seconds=61)


# --- Scopes -------------------------------------------------------------------------------------

def test_it_rejects_unknown_scopes_naming_them(world):
    before = ApiKey.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        _issue(world.tenant_a, scopes=["read", "withdraw"])
    assert "withdraw" in refused.value.message
    assert refused.value.field == "scopes"
    assert ApiKey.objects.count() == before


@pytest.mark.parametrize("scopes", [[], [""], ["  "]])
def test_it_rejects_a_key_without_scopes(world, scopes):
    with pytest.raises(ValidationFailed) as refused:
        _issue(world.tenant_a, scopes=scopes)
    assert refused.value.field == "scopes"


def test_it_stores_scopes_cleaned_and_deduplicated(world):
    api_key, _full_key = _issue(world.tenant_a, scopes=[" control ", "read", "read"])
    assert ApiKey.objects.get(pk=api_key.pk).scopes == ["control", "read"]


def test_it_returns_403_when_the_key_lacks_the_needed_scope(world):
    _api_key, export_only = _issue(world.tenant_a, scopes=["export"])
    response = world.client_with_key(export_only).get(ME)
    assert response.status_code == 403
    assert "read" in response.json()["error"]["message"]


# --- Who may mint -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_it_refuses_minting_below_admin(world, role):
    actor = _member_actor(world.tenant_a, role)
    before = ApiKey.objects.count()
    with pytest.raises(Forbidden):
        api_key_issue(tenant=world.tenant_a, actor=actor, name="nope", scopes=["read"])
    assert ApiKey.objects.count() == before


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_it_lets_admins_and_owners_mint_control_keys(world, role):
    actor = _member_actor(world.tenant_a, role)
    api_key, full_key = api_key_issue(tenant=world.tenant_a, actor=actor, name="ops",
                                      scopes=["control"])
    assert api_key.created_by == actor.user
    assert world.client_with_key(full_key).get(ME).status_code == 403  # control lacks read


def test_it_refuses_minting_by_an_api_key_even_with_admin_scope(world):
    admin_key, _full_key = _issue(world.tenant_a, scopes=["admin"])
    with pytest.raises(Forbidden):
        api_key_issue(tenant=world.tenant_a, actor=Actor.for_key(admin_key), name="child",
                      scopes=["read"])
