"""/api/v1/audit-events/export.csv: Enterprise only, admins only, the tenant's rows only."""
from __future__ import annotations

import csv
import io

import pytest

from tenants.models import AuditEvent, Role
from tenants.plans import Plan
from tenants.services import api_key_issue, audit_record
from tests.base import owner_actor

URL = "/api/v1/audit-events/export.csv"


@pytest.fixture
def enterprise(world):
    for tenant in (world.tenant_a, world.tenant_b):
        tenant.plan = Plan.ENTERPRISE
        tenant.save(update_fields=["plan"])
    return world


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_an_owner_exports_the_tenants_log(enterprise):
    audit_record(tenant=enterprise.tenant_a, actor=owner_actor(enterprise.tenant_a),
                 action="bot.pause", target="alpha")
    response = enterprise.client_for(enterprise.alice).get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv(response)
    assert {"bot.pause", "tenant.create"} <= {row["action"] for row in rows}
    assert set(rows[0]) == {"id", "time", "actor", "via", "action", "target", "ip",
                            "user_agent", "details"}


def test_it_never_exports_another_tenants_rows(enterprise):
    audit_record(tenant=enterprise.tenant_a, actor=owner_actor(enterprise.tenant_a),
                 action="bot.pause", target="only-in-a")
    rows = _csv(enterprise.client_for(enterprise.charlie).get(URL))
    ids_of_a = set(AuditEvent.objects.for_tenant(enterprise.tenant_a).values_list("id",
                                                                                   flat=True))
    assert rows and not {int(row["id"]) for row in rows} & ids_of_a
    assert "only-in-a" not in str(rows)


def test_it_applies_the_pages_filters(enterprise):
    actor = owner_actor(enterprise.tenant_a)
    audit_record(tenant=enterprise.tenant_a, actor=actor, action="bot.pause", target="p")
    audit_record(tenant=enterprise.tenant_a, actor=actor, action="api_key.issue", target="k")
    rows = _csv(enterprise.client_for(enterprise.alice).get(URL, {"action": "bot."}))
    assert [row["target"] for row in rows] == ["p"]


def test_a_cell_a_spreadsheet_would_evaluate_is_neutralised(enterprise):
    audit_record(tenant=enterprise.tenant_a, actor=owner_actor(enterprise.tenant_a),
                 action="bot.update", target="=HYPERLINK(\"http://evil\")")
    rows = _csv(enterprise.client_for(enterprise.alice).get(URL, {"action": "bot.update"}))
    assert rows[0]["target"].startswith("'=")


def test_the_export_is_itself_audited(enterprise):
    _csv(enterprise.client_for(enterprise.alice).get(URL, {"action": "bot."}))
    event = AuditEvent.objects.for_tenant(enterprise.tenant_a).get(action="audit_log.export")
    assert event.actor_user == enterprise.alice
    assert event.details == {"filters": {"action": "bot."}}


def test_below_enterprise_the_refusal_names_enterprise(world):
    response = world.client_for(world.alice).get(URL)
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "plan_limit" and "Enterprise" in error["message"]


def test_a_viewer_is_refused(enterprise):
    assert enterprise.client_for(enterprise.bob).get(URL).status_code == 403


@pytest.mark.parametrize("key", ["read_key_a", "control_key_a"])
def test_keys_without_the_admin_scope_are_refused(enterprise, key):
    assert enterprise.client_with_key(getattr(enterprise, key)).get(URL).status_code == 403


def test_an_admin_key_may_export(enterprise):
    full_key = api_key_issue(tenant=enterprise.tenant_a, actor=owner_actor(enterprise.tenant_a),
                             name="siem", scopes=["admin"])[1]
    response = enterprise.client_with_key(full_key).get(URL)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_a_signed_in_admin_member_may_export(enterprise):
    from tenants.models import Membership

    Membership.objects.filter(tenant=enterprise.tenant_a, user=enterprise.bob).update(
        role=Role.ADMIN)
    assert enterprise.client_for(enterprise.bob).get(URL).status_code == 200


@pytest.mark.django_db
def test_without_a_credential_it_is_401():
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code == 401
