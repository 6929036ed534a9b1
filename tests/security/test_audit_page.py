"""/settings/audit/: the tenant's audit log for admins, filtered and paginated."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, Role
from tenants.plans import Plan
from tenants.services import audit_record
from tests.base import owner_actor

URL = "/settings/audit/"


def _record(tenant, action: str, target: str = "", **changes) -> AuditEvent:
    event = audit_record(tenant=tenant, actor=owner_actor(tenant), action=action, target=target)
    if changes:
        AuditEvent.objects.filter(pk=event.pk).update(**changes)
    return event


def _rows(response) -> str:
    return response.content.decode().split('id="audit-events"')[1]


def test_an_owner_sees_the_tenants_events_newest_first(world):
    _record(world.tenant_a, "bot.pause", "first bot")
    _record(world.tenant_a, "bot.resume", "second bot")
    response = world.client_for(world.alice).get(URL)
    assert response.status_code == 200
    rows = _rows(response)
    assert rows.index("bot.resume") < rows.index("bot.pause")


@pytest.mark.parametrize("role", [Role.VIEWER, Role.TRADER])
def test_it_refuses_members_below_admin(world, role):
    Membership.objects.filter(tenant=world.tenant_a, user=world.bob).update(role=role)
    assert world.client_for(world.bob).get(URL).status_code == 403


def test_an_admin_may_look(world):
    Membership.objects.filter(tenant=world.tenant_a, user=world.bob).update(role=Role.ADMIN)
    assert world.client_for(world.bob).get(URL).status_code == 200


@pytest.mark.django_db
def test_it_sends_a_signed_out_visitor_to_sign_in(client):
    assert client.get(URL)["Location"].startswith("/accounts/login/")


def test_it_never_shows_another_tenants_events(world):
    _record(world.tenant_a, "bot.pause", "secret-bot-of-a")
    response = world.client_for(world.charlie).get(URL)
    assert "secret-bot-of-a" not in response.content.decode()


def test_it_filters_by_action_prefix_actor_and_date(world):
    _record(world.tenant_a, "bot.pause", "paused-one")
    _record(world.tenant_a, "api_key.issue", "key-one")
    _record(world.tenant_a, "bot.resume", "old-one",
            created_at=timezone.now() - timedelta(days=10))
    client = world.client_for(world.alice)
    rows = _rows(client.get(URL, {"action": "bot."}))
    assert "paused-one" in rows and "old-one" in rows and "key-one" not in rows
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    rows = _rows(client.get(URL, {"action": "bot.", "since": since}))
    assert "paused-one" in rows and "old-one" not in rows
    assert "key-one" in _rows(client.get(URL, {"actor": "ALICE@"}))
    assert "No events match" in _rows(client.get(URL, {"actor": "nobody"}))


def test_it_pages_fifty_at_a_time_and_keeps_the_filters(world):
    for number in range(55):
        _record(world.tenant_a, "bot.pause", f"bot-{number:02d}")
    client = world.client_for(world.alice)
    first = _rows(client.get(URL, {"action": "bot.pause"}))
    assert "bot-54" in first and "bot-04" not in first
    assert "action=bot.pause&amp;page=2" in first
    assert "bot-04" in _rows(client.get(URL, {"action": "bot.pause", "page": 2}))


def test_below_enterprise_the_page_names_the_plan_that_exports(world):
    html = world.client_for(world.alice).get(URL).content.decode()
    assert "Enterprise plan" in html and "Export CSV" not in html


def test_on_enterprise_it_links_the_export_with_the_same_filters(world):
    world.tenant_a.plan = Plan.ENTERPRISE
    world.tenant_a.save(update_fields=["plan"])
    html = world.client_for(world.alice).get(URL, {"action": "bot."}).content.decode()
    assert 'href="/api/v1/audit-events/export.csv?action=bot."' in html


def test_the_settings_page_links_the_full_log(world):
    assert URL in world.client_for(world.alice).get("/settings/").content.decode()


def test_actors_from_keys_and_the_system_are_shown(world):
    key = world.key_row(world.control_key_a)
    audit_record(tenant=world.tenant_a, actor=Actor.for_key(key, ip="192.0.2.1"),
                 action="bot.pause", target="by-key")
    audit_record(tenant=world.tenant_a, actor=Actor.system(world.tenant_a, via="engine"),
                 action="bot.auto_pause", target="by-engine")
    rows = _rows(world.client_for(world.alice).get(URL))
    assert f"key {key.prefix}" in rows and "192.0.2.1" in rows and "engine" in rows
