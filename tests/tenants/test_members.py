"""Members: invitations, plan limits on seats, role changes and removal."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client

from aitrader.errors import Conflict, Forbidden, NotFound, PlanLimitExceeded, ValidationFailed
from tenants.actors import Actor
from tenants.models import AuditEvent, Invitation, Membership, Role, Tenant
from tenants.plans import Plan
from tenants.services import (
    invitation_accept,
    membership_change_role,
    membership_invite,
    membership_remove,
    tenant_create,
)
from tests.base import PASSWORD, make_user, owner_actor

MEMBERS = "/accounts/members/"
ME = "/api/v1/me/"
T0 = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


def _on_plan(tenant: Tenant, plan: str) -> Tenant:
    tenant.plan = plan
    tenant.save(update_fields=["plan"])
    return tenant


@pytest.fixture
def team(world):
    """Tenant A on the team plan, with dave as an admin and erin as a trader."""
    _on_plan(world.tenant_a, Plan.TEAM)
    world.dave = make_user("dave@example.com")
    world.erin = make_user("erin@example.com")
    Membership.objects.create(tenant=world.tenant_a, user=world.dave, role=Role.ADMIN)
    Membership.objects.create(tenant=world.tenant_a, user=world.erin, role=Role.TRADER)
    return world


def _actor(tenant: Tenant, user) -> Actor:
    return Actor.for_member(Membership.objects.get(tenant=tenant, user=user))


def _membership(tenant: Tenant, user) -> Membership:
    return Membership.objects.get(tenant=tenant, user=user)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Inviting -----------------------------------------------------------------------------------

@pytest.mark.parametrize("inviter", ["alice", "dave"])
def test_it_lets_admins_and_owners_invite_on_the_team_plan(team, inviter):
    actor = _actor(team.tenant_a, getattr(team, inviter))
    invitation, token = membership_invite(tenant=team.tenant_a, actor=actor,
                                          email=" Frank@Example.com ", role=Role.TRADER)
    assert invitation.email == "frank@example.com"
    assert invitation.role == Role.TRADER
    assert invitation.expires_at > invitation.created_at
    # Only a hash of the one-time token is stored.
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(Invitation.objects.filter(pk=invitation.pk).values().get())
    assert AuditEvent.objects.for_tenant(team.tenant_a).filter(
        action="member.invite", target="frank@example.com").exists()


@pytest.mark.parametrize("inviter", ["bob", "erin"])
def test_it_refuses_invites_from_viewers_and_traders(team, inviter):
    with pytest.raises(Forbidden):
        membership_invite(tenant=team.tenant_a, actor=_actor(team.tenant_a, getattr(team, inviter)),
                          email="frank@example.com")
    assert not Invitation.objects.exists()


def test_it_lets_only_owners_invite_an_owner(team):
    with pytest.raises(Forbidden):
        membership_invite(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.dave),
                          email="frank@example.com", role=Role.OWNER)
    invitation, _token = membership_invite(tenant=team.tenant_a,
                                           actor=_actor(team.tenant_a, team.alice),
                                           email="frank@example.com", role=Role.OWNER)
    assert invitation.role == Role.OWNER


def test_it_refuses_an_unknown_role(team):
    with pytest.raises(ValidationFailed) as refused:
        membership_invite(tenant=team.tenant_a, actor=owner_actor(team.tenant_a),
                          email="frank@example.com", role="god")
    assert refused.value.field == "role"


def test_it_refuses_inviting_an_existing_member(team):
    with pytest.raises(Conflict) as refused:
        membership_invite(tenant=team.tenant_a, actor=owner_actor(team.tenant_a),
                          email="BOB@example.com")
    assert "bob@example.com" in refused.value.message


# --- Plan limits on members ------------------------------------------------------------------

@pytest.mark.parametrize("plan", [Plan.FREE, Plan.PRO])
def test_it_refuses_invites_on_single_member_plans_naming_team(world, plan):
    tenant = _on_plan(world.tenant_b, plan)
    assert Membership.objects.for_tenant(tenant).count() == 1
    with pytest.raises(PlanLimitExceeded) as refused:
        membership_invite(tenant=tenant, actor=owner_actor(tenant), email="frank@example.com")
    assert "Team plan" in refused.value.message
    assert refused.value.status_code == 402
    assert not Invitation.objects.exists()


def test_it_counts_pending_invitations_against_the_team_limit(team):
    actor = owner_actor(team.tenant_a)
    members = Membership.objects.for_tenant(team.tenant_a).count()
    for number in range(25 - members):
        membership_invite(tenant=team.tenant_a, actor=actor, email=f"seat{number}@example.com")
    with pytest.raises(PlanLimitExceeded) as refused:
        membership_invite(tenant=team.tenant_a, actor=actor, email="one-too-many@example.com")
    assert "Enterprise plan" in refused.value.message


def test_it_frees_the_seat_of_an_expired_invitation(world):
    tenant = _on_plan(world.tenant_b, Plan.TEAM)
    with time_machine.travel(T0, tick=False) as traveller:
        for number in range(24):
            membership_invite(tenant=tenant, actor=owner_actor(tenant),
                              email=f"seat{number}@example.com")
        with pytest.raises(PlanLimitExceeded):
            membership_invite(tenant=tenant, actor=owner_actor(tenant), email="late@example.com")
        traveller.move_to(T0 + timedelta(days=8))
        membership_invite(tenant=tenant, actor=owner_actor(tenant), email="late@example.com")


def test_it_shows_the_plan_refusal_on_the_members_page(world):
    client = _signed_in(world.charlie)  # owner of B, on the pro plan, alone
    response = client.post(MEMBERS, {"email": "frank@example.com", "role": Role.VIEWER})
    assert response.status_code == 200
    assert b"Team plan" in response.content
    assert not Invitation.objects.exists()


def test_it_shows_the_invitation_link_on_the_members_page(team):
    client = _signed_in(team.alice)
    response = client.post(MEMBERS, {"email": "frank@example.com", "role": Role.TRADER},
                           follow=True)
    assert response.status_code == 200
    assert b"/accounts/invitations/" in response.content
    assert b"frank@example.com" in response.content
    assert Invitation.objects.for_tenant(team.tenant_a).filter(email="frank@example.com").exists()


def test_it_refuses_a_viewer_inviting_through_the_page(team):
    response = _signed_in(team.bob).post(MEMBERS, {"email": "frank@example.com",
                                                   "role": Role.VIEWER})
    assert response.status_code == 200
    assert b"cannot do this; it needs admin or above" in response.content
    assert not Invitation.objects.exists()


# --- Accepting ----------------------------------------------------------------------------------

def _invite(world, email: str = "frank@example.com", role: str = Role.TRADER) -> str:
    return membership_invite(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                             email=email, role=role)[1]


def test_it_joins_the_invited_user_with_the_invited_role(team):
    token = _invite(team)
    frank = make_user("frank@example.com")
    membership = invitation_accept(token=token, user=frank)
    assert membership.tenant == team.tenant_a
    assert membership.role == Role.TRADER
    assert Invitation.objects.get().accepted_at is not None


def test_it_requires_the_invited_email_to_accept(team):
    token = _invite(team)
    with pytest.raises(Forbidden):
        invitation_accept(token=token, user=team.charlie)
    assert not Membership.objects.filter(tenant=team.tenant_a, user=team.charlie).exists()
    # The rightful invitee can still use it.
    invitation_accept(token=token, user=make_user("frank@example.com"))


def test_it_accepts_an_invitation_only_once(team):
    token = _invite(team)
    frank = make_user("frank@example.com")
    invitation_accept(token=token, user=frank)
    Membership.objects.filter(tenant=team.tenant_a, user=frank).delete()
    with pytest.raises(NotFound):
        invitation_accept(token=token, user=frank)
    assert not Membership.objects.filter(tenant=team.tenant_a, user=frank).exists()


def test_it_refuses_an_expired_invitation(team):
    with time_machine.travel(T0, tick=False) as traveller:
        token = _invite(team)
        frank = make_user("frank@example.com")
        traveller.move_to(T0 + timedelta(days=7, seconds=1))
        with pytest.raises(NotFound) as refused:
            invitation_accept(token=token, user=frank)
    assert "expired" in refused.value.message
    assert not Membership.objects.filter(user=frank).exists()


def test_it_refuses_an_unknown_token(team):
    with pytest.raises(NotFound):
        invitation_accept(token="made-up", user=team.charlie)


def test_it_accepts_through_the_link_and_switches_to_the_new_tenant_when_asked(team):
    # The link opens a confirmation page (tests/tenants/test_invitation_confirm.py); its
    # "Join and open it" button joins and switches.
    token = _invite(team)
    frank = make_user("frank@example.com")
    tenant_create(name="Frank's own", slug="frank", owner=frank)
    client = _signed_in(frank)
    response = client.post(f"/accounts/invitations/{token}/", {"switch": "1"}, follow=True)
    assert response.status_code == 200
    assert b"You joined Tenant A as Trader." in response.content
    assert client.get(ME).json()["tenant"]["slug"] == "tenant-a"


def test_it_shows_a_message_for_a_bad_link(team):
    response = _signed_in(team.charlie).get("/accounts/invitations/nope/", follow=True)
    assert response.status_code == 200
    assert b"invalid or has expired" in response.content


def test_it_sends_a_signed_out_invitee_to_login_first(team, client):
    token = _invite(team)
    response = client.get(f"/accounts/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Invitation.objects.get().accepted_at is None


# --- Role changes -------------------------------------------------------------------------------

def test_it_lets_an_admin_change_a_viewers_role(team):
    bob = _membership(team.tenant_a, team.bob)
    membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.dave),
                           membership_id=bob.pk, role=Role.TRADER)
    assert _membership(team.tenant_a, team.bob).role == Role.TRADER
    assert AuditEvent.objects.for_tenant(team.tenant_a).filter(
        action="member.role_change", target="bob@example.com").exists()


@pytest.mark.parametrize("changer", ["bob", "erin"])
def test_it_refuses_role_changes_below_admin(team, changer):
    bob = _membership(team.tenant_a, team.bob)
    with pytest.raises(Forbidden):
        membership_change_role(tenant=team.tenant_a,
                               actor=_actor(team.tenant_a, getattr(team, changer)),
                               membership_id=bob.pk, role=Role.ADMIN)
    assert _membership(team.tenant_a, team.bob).role == Role.VIEWER


def test_it_lets_only_owners_make_owners(team):
    bob = _membership(team.tenant_a, team.bob)
    with pytest.raises(Forbidden):
        membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.dave),
                               membership_id=bob.pk, role=Role.OWNER)
    membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                           membership_id=bob.pk, role=Role.OWNER)
    assert _membership(team.tenant_a, team.bob).role == Role.OWNER


def test_it_lets_only_owners_change_an_owner(team):
    bob = _membership(team.tenant_a, team.bob)
    bob.role = Role.OWNER
    bob.save()
    with pytest.raises(Forbidden):
        membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.dave),
                               membership_id=bob.pk, role=Role.VIEWER)
    assert _membership(team.tenant_a, team.bob).role == Role.OWNER
    membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                           membership_id=bob.pk, role=Role.VIEWER)
    assert _membership(team.tenant_a, team.bob).role == Role.VIEWER


def test_it_refuses_to_demote_the_last_owner(team):
    alice = _membership(team.tenant_a, team.alice)
    with pytest.raises(Conflict) as refused:
        membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                               membership_id=alice.pk, role=Role.ADMIN)
    assert "at least one owner" in refused.value.message
    assert _membership(team.tenant_a, team.alice).role == Role.OWNER


def test_it_lets_an_owner_step_down_when_another_owner_exists(team):
    Membership.objects.filter(tenant=team.tenant_a, user=team.bob).update(role=Role.OWNER)
    alice = _membership(team.tenant_a, team.alice)
    membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                           membership_id=alice.pk, role=Role.ADMIN)
    assert _membership(team.tenant_a, team.alice).role == Role.ADMIN


def test_it_treats_another_tenants_member_as_missing(team):
    charlie = _membership(team.tenant_b, team.charlie)
    with pytest.raises(NotFound):
        membership_change_role(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                               membership_id=charlie.pk, role=Role.VIEWER)
    with pytest.raises(NotFound):
        membership_remove(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                          membership_id=charlie.pk)
    assert _membership(team.tenant_b, team.charlie).role == Role.OWNER


def test_it_returns_404_on_the_page_for_another_tenants_member(team):
    charlie = _membership(team.tenant_b, team.charlie)
    client = _signed_in(team.alice)
    assert client.post(f"/accounts/members/{charlie.pk}/role/",
                       {"role": Role.VIEWER}).status_code == 404
    assert client.post(f"/accounts/members/{charlie.pk}/remove/").status_code == 404
    assert _membership(team.tenant_b, team.charlie).role == Role.OWNER


def test_it_changes_a_role_through_the_page(team):
    bob = _membership(team.tenant_a, team.bob)
    response = _signed_in(team.dave).post(f"/accounts/members/{bob.pk}/role/",
                                          {"role": Role.TRADER}, follow=True)
    assert b"Role changed." in response.content
    assert _membership(team.tenant_a, team.bob).role == Role.TRADER


def test_it_refuses_an_unknown_role_through_the_page(team):
    bob = _membership(team.tenant_a, team.bob)
    response = _signed_in(team.alice).post(f"/accounts/members/{bob.pk}/role/",
                                           {"role": "god"}, follow=True)
    assert b"Choose a valid role." in response.content
    assert _membership(team.tenant_a, team.bob).role == Role.VIEWER


# --- Removal ------------------------------------------------------------------------------------

def test_it_removes_a_member_effective_on_their_next_request(team):
    bob_client = _signed_in(team.bob)
    assert bob_client.get(ME).status_code == 200
    membership_remove(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.dave),
                      membership_id=_membership(team.tenant_a, team.bob).pk)
    assert bob_client.get(ME).status_code == 401
    assert not Membership.objects.filter(user=team.bob).exists()
    assert AuditEvent.objects.for_tenant(team.tenant_a).filter(
        action="member.remove", target="bob@example.com").exists()


def test_it_refuses_to_remove_the_last_owner(team):
    with pytest.raises(Conflict):
        membership_remove(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.alice),
                          membership_id=_membership(team.tenant_a, team.alice).pk)
    assert _membership(team.tenant_a, team.alice).role == Role.OWNER


def test_it_refuses_an_admin_removing_an_owner(team):
    Membership.objects.filter(tenant=team.tenant_a, user=team.bob).update(role=Role.OWNER)
    with pytest.raises(Forbidden):
        membership_remove(tenant=team.tenant_a, actor=_actor(team.tenant_a, team.dave),
                          membership_id=_membership(team.tenant_a, team.bob).pk)
    assert Membership.objects.filter(tenant=team.tenant_a, user=team.bob).exists()


@pytest.mark.parametrize("remover", ["bob", "erin"])
def test_it_refuses_removal_below_admin(team, remover):
    with pytest.raises(Forbidden):
        membership_remove(tenant=team.tenant_a, actor=_actor(team.tenant_a, getattr(team, remover)),
                          membership_id=_membership(team.tenant_a, team.dave).pk)
    assert Membership.objects.filter(tenant=team.tenant_a, user=team.dave).exists()


def test_it_removes_through_the_page_and_the_member_loses_access(team):
    erin_client = _signed_in(team.erin)
    erin = _membership(team.tenant_a, team.erin)
    response = _signed_in(team.alice).post(f"/accounts/members/{erin.pk}/remove/", follow=True)
    assert b"Member removed." in response.content
    assert erin_client.get(ME).status_code == 401
    assert b"not a member of any workspace" in erin_client.get("/").content


def test_it_refuses_a_viewer_removing_through_the_page(team):
    alice = _membership(team.tenant_a, team.alice)
    response = _signed_in(team.bob).post(f"/accounts/members/{alice.pk}/remove/", follow=True)
    assert b"cannot do this; it needs admin or above" in response.content
    assert Membership.objects.filter(pk=alice.pk).exists()


def test_it_hides_management_controls_from_viewers(team):
    page = _signed_in(team.bob).get(MEMBERS)
    assert page.status_code == 200
    assert b"alice@example.com" in page.content
    assert b"Invite someone" not in page.content
    assert b"/remove/" not in page.content


def test_it_lists_only_this_tenants_members(team):
    page = _signed_in(team.alice).get(MEMBERS).content
    assert b"bob@example.com" in page
    assert b"charlie@example.com" not in page


def test_it_signs_in_an_accepted_member_with_their_password(team):
    token = _invite(team, email="frank@example.com", role=Role.VIEWER)
    invitation_accept(token=token, user=make_user("frank@example.com"))
    client = Client()
    client.post("/accounts/login/", {"email": "frank@example.com", "password": PASSWORD})
    assert client.get(ME).json() == {"tenant": {"slug": "tenant-a", "name": "Tenant A",
                                                "plan": "team"},
                                     "role": "viewer", "user": {"email": "frank@example.com"}}
