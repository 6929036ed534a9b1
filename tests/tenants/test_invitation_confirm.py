"""Accepting an invitation: a confirmation page that names the workspace and role, a POST to
join, and no silent switch of the active workspace. Invitations are e-mailed."""
from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from tenants.models import Invitation, Membership, Role
from tenants.plans import Plan
from tenants.services import membership_invite, tenant_create
from tests.base import make_user, owner_actor

ME = "/api/v1/me/"
MEMBERS = "/accounts/members/"


@pytest.fixture
def frank(world):
    """frank has his own workspace (his active one) and an invitation to tenant A as trader."""
    world.tenant_a.plan = Plan.TEAM
    world.tenant_a.save(update_fields=["plan"])
    user = make_user("frank@example.com")
    tenant_create(name="Frank's own", slug="frank", owner=user)
    token = membership_invite(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                              email="frank@example.com", role=Role.TRADER)[1]
    client = Client()
    client.force_login(user)
    return user, client, f"/accounts/invitations/{token}/"


def _joined(world, user) -> bool:
    return Membership.objects.filter(tenant=world.tenant_a, user=user).exists()


def test_opening_the_link_asks_first_naming_workspace_and_role(world, frank):
    user, client, link = frank
    page = client.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Tenant A" in html and "Trader" in html and "alice@example.com" in html
    assert f'<form method="post" action="{link}"' in html
    assert not _joined(world, user)
    assert Invitation.objects.get().accepted_at is None
    assert client.get(ME).json()["tenant"]["slug"] == "frank"


def test_joining_by_post_keeps_the_active_workspace(world, frank):
    user, client, link = frank
    response = client.post(link, follow=True)
    assert response.status_code == 200
    assert _joined(world, user)
    assert Membership.objects.get(tenant=world.tenant_a, user=user).role == Role.TRADER
    assert b"You joined Tenant A as Trader" in response.content
    assert client.get(ME).json()["tenant"]["slug"] == "frank"


def test_joining_and_opening_the_workspace_switches_only_when_asked(world, frank):
    user, client, link = frank
    client.post(link, {"switch": "1"})
    assert _joined(world, user)
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"


def test_a_cross_site_post_without_the_csrf_token_joins_nothing(world, frank):
    user, _client, link = frank
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.post(link).status_code == 403
    assert not _joined(world, user)


def test_someone_else_sees_who_it_was_for_and_cannot_join(world, frank):
    _user, _client, link = frank
    charlie = Client()
    charlie.force_login(world.charlie)
    page = charlie.get(link)
    assert b"This invitation was sent to frank@example.com" in page.content
    assert f'action="{link}"'.encode() not in page.content  # no button to join
    charlie.post(link)
    assert not Membership.objects.filter(tenant=world.tenant_a, user=world.charlie).exists()


def test_a_used_link_says_so_on_open(world, frank):
    user, client, link = frank
    client.post(link)
    response = client.get(link, follow=True)
    assert b"invalid or has expired" in response.content


def test_invitations_are_emailed_and_the_link_is_still_shown(
        world, django_capture_on_commit_callbacks):
    world.tenant_a.plan = Plan.TEAM
    world.tenant_a.save(update_fields=["plan"])
    client = Client()
    client.force_login(world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(MEMBERS, {"email": "gina@example.com", "role": Role.VIEWER},
                           follow=True)
    assert b"/accounts/invitations/" in page.content
    [message] = mail.outbox
    assert message.to == ["gina@example.com"]
    assert "Tenant A" in message.subject
    assert "http://testserver/accounts/invitations/" in message.body
    assert "Viewer" in message.body and "alice@example.com" in message.body
