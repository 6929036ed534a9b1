"""An API key never grants more than its creator's current role, and leaves with them."""
from __future__ import annotations

import pytest

from tenants.actors import Actor
from tenants.models import AuditEvent, Membership, Role
from tenants.services import api_key_issue, membership_change_role, membership_remove
from tests.base import make_user, owner_actor
from tests.dashboard.conftest import paper_bot
from trading.models import Bot

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(world):
    """An admin of tenant A who mints an admin-scope key."""
    user = make_user("dave@example.com")
    membership = Membership.objects.create(tenant=world.tenant_a, user=user, role=Role.ADMIN)
    _, full_key = api_key_issue(tenant=world.tenant_a, actor=Actor.for_member(membership),
                                name="dave's", scopes=["admin"])
    return membership, full_key


@pytest.fixture
def bot(world, market):
    return paper_bot(world.tenant_a)


def _pause(world, full_key, bot):
    return world.client_with_key(full_key).post(f"/api/v1/bots/{bot.pk}/pause/")


def test_an_admins_key_pauses_bots_while_they_are_admin(world, dave, bot):
    assert _pause(world, dave[1], bot).status_code == 200
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED


def test_a_key_loses_what_its_creator_loses_on_demotion(world, dave, bot):
    membership, full_key = dave
    membership_change_role(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                           membership_id=membership.pk, role=Role.VIEWER)
    response = _pause(world, full_key, bot)
    assert response.status_code == 403
    assert "creator" in response.json()["error"]["message"]
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.RUNNING
    # still what a viewer may do
    assert world.client_with_key(full_key).get("/api/v1/bots/").status_code == 200


def test_a_key_follows_its_creator_back_up(world, dave, bot):
    membership, full_key = dave
    for role in (Role.VIEWER, Role.TRADER):
        membership_change_role(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                               membership_id=membership.pk, role=role)
    assert _pause(world, full_key, bot).status_code == 200  # a trader may control bots
    assert world.client_with_key(full_key).get("/api/v1/api-keys/").status_code in (401, 403)


def test_removing_a_member_revokes_the_keys_they_minted_and_audits_it(world, dave, bot):
    membership, full_key = dave
    membership_remove(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                      membership_id=membership.pk)
    assert _pause(world, full_key, bot).status_code == 401
    revocation = AuditEvent.objects.for_tenant(world.tenant_a).get(action="api_key.revoke")
    assert "dave@example.com" in revocation.details["reason"]
    # keys minted by others are untouched
    assert world.client_with_key(world.control_key_a).get("/api/v1/bots/").status_code == 200


def test_a_key_whose_creator_is_gone_grants_nothing_even_if_not_revoked(world, dave, bot):
    membership, full_key = dave
    Membership.objects.filter(pk=membership.pk).delete()  # e.g. removed outside the service
    assert _pause(world, full_key, bot).status_code == 403
    assert world.client_with_key(full_key).get("/api/v1/bots/").status_code == 403
