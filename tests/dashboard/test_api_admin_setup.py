"""A program with an `admin` key sets a workspace up end to end, as an admin does on the
settings page: exchange accounts, their credentials, bots, Telegram and members."""
from __future__ import annotations

import pytest

from notifications.models import TelegramLink, TelegramLinkCode
from tenants.models import AuditEvent, Invitation, Membership, Role, Tenant
from tenants.plans import Plan
from tenants.services import api_key_issue
from tests.base import make_user, owner_actor
from tests.dashboard.conftest import tick
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from trading.core import money
from trading.models import Bot, ExchangeAccount, Thought
from trading.services.accounts import exchange_account_create

ACCOUNTS = "/api/v1/exchange-accounts/"
BOTS = "/api/v1/bots/"
MEMBERS = "/api/v1/members/"
INVITATIONS = "/api/v1/members/invitations/"
LINK_CODES = "/api/v1/telegram/link-codes/"
LINKS = "/api/v1/telegram/links/"
PAPER = {"label": "Paper desk", "exchange_id": "binance", "mode": "paper",
         "paper_starting_balance": "2500"}
LIVE = {"label": "Live desk", "exchange_id": "binance", "mode": "live"}
BOT = {"name": "sma", "symbol": "BTC/USDT", "timeframe": "1m", "strategy": "sma_cross",
       "parameters": {"fast": 3, "slow": 8}, "preset": "aggressive", "capital": "1000"}
KEYS = {"api_key": DEFAULT_API_KEY, "secret": DEFAULT_SECRET}


def _key_client(world, tenant: Tenant, *scopes: str):
    _row, full_key = api_key_issue(tenant=tenant, actor=owner_actor(tenant),
                                   name="-".join(scopes), scopes=list(scopes))
    return world.client_with_key(full_key)


@pytest.fixture
def admin_key(world):
    return _key_client(world, world.tenant_a, "admin")


@pytest.fixture
def live_account(world) -> ExchangeAccount:
    return exchange_account_create(tenant=world.tenant_a, actor=owner_actor(world.tenant_a),
                                   **LIVE)


def _text_of(*responses) -> str:
    return "".join(response.content.decode() for response in responses)


def test_it_sets_up_an_account_credentials_and_a_bot_that_ticks(world, admin_key, market,
                                                               binance_live):
    paper = admin_key.post(ACCOUNTS, PAPER, format="json")
    live = admin_key.post(ACCOUNTS, LIVE, format="json")
    assert (paper.status_code, live.status_code) == (201, 201), _text_of(paper, live)
    keys = admin_key.post(f"{ACCOUNTS}{live.json()['id']}/credentials/", KEYS, format="json")
    assert keys.status_code == 200, keys.content
    assert keys.json()["account"]["has_credentials"] is True
    created = admin_key.post(BOTS, BOT | {"account": paper.json()["id"]}, format="json")
    assert created.status_code == 201, created.content
    bot = Bot.objects.for_tenant(world.tenant_a).get(pk=created.json()["id"])
    tick(bot, market, candles=3)
    assert Thought.objects.for_tenant(world.tenant_a).filter(bot=bot).exists()
    assert admin_key.get(f"{BOTS}{bot.pk}/").json()["status"] == "running"
    assert DEFAULT_SECRET not in _text_of(paper, live, keys, created)
    assert DEFAULT_API_KEY not in _text_of(paper, live, keys, created)


def test_credentials_saved_by_a_key_are_audited_like_the_page(world, admin_key, live_account,
                                                              binance_live):
    admin_key.post(f"{ACCOUNTS}{live_account.pk}/credentials/", KEYS, format="json")
    event = AuditEvent.objects.for_tenant(world.tenant_a).get(
        action="exchange_account.credentials_set")
    assert event.target == "Live desk"
    assert event.details["api_key_hint"] == f"…{DEFAULT_API_KEY[-4:]}"
    assert DEFAULT_SECRET not in str(event.details)
    removed = admin_key.delete(f"{ACCOUNTS}{live_account.pk}/credentials/")
    assert removed.status_code == 200 and removed.json()["has_credentials"] is False
    assert AuditEvent.objects.for_tenant(world.tenant_a).filter(
        action="exchange_account.credentials_removed").exists()


def test_a_signed_in_admin_still_confirms_the_password(world, live_account, binance_live):
    response = world.client_for(world.alice).post(f"{ACCOUNTS}{live_account.pk}/credentials/",
                                                  KEYS, format="json")
    assert response.status_code == 403
    assert "password" in response.json()["error"]["fields"]
    live_account.refresh_from_db()
    assert not live_account.has_credentials


@pytest.mark.parametrize("scopes", [("read",), ("read", "control", "export")])
def test_read_and_control_keys_get_403_on_every_setup_write(world, live_account, scopes):
    client = _key_client(world, world.tenant_a, *scopes)
    member = Membership.objects.for_tenant(world.tenant_a).get(user=world.bob)
    answers = [
        client.post(ACCOUNTS, PAPER, format="json"),
        client.post(f"{ACCOUNTS}{live_account.pk}/credentials/", KEYS, format="json"),
        client.delete(f"{ACCOUNTS}{live_account.pk}/credentials/"),
        client.post(INVITATIONS, {"email": "dan@example.com"}, format="json"),
        client.patch(f"{MEMBERS}{member.pk}/", {"role": "trader"}, format="json"),
        client.delete(f"{MEMBERS}{member.pk}/"),
        client.post(LINK_CODES, {"email": "alice@example.com"}, format="json"),
        client.post(f"{LINKS}1/unlink/"),
    ]
    assert [answer.status_code for answer in answers] == [403] * len(answers)
    assert Membership.objects.for_tenant(world.tenant_a).get(pk=member.pk).role == Role.VIEWER
    assert not Invitation.objects.exists() and not TelegramLinkCode.objects.exists()


def test_a_read_key_lists_members_and_chats_as_every_member_sees_them(world):
    client = _key_client(world, world.tenant_a, "read")
    members = client.get(MEMBERS)
    assert members.status_code == 200
    assert [row["email"] for row in members.json()["results"]] == ["alice@example.com",
                                                                   "bob@example.com"]
    assert client.get(LINKS).status_code == 200
    assert client.get(INVITATIONS).status_code == 200


def test_another_tenants_objects_are_404(world, admin_key, binance_live):
    actor = owner_actor(world.tenant_b)
    theirs = exchange_account_create(tenant=world.tenant_b, actor=actor, **LIVE)
    charlie = Membership.objects.for_tenant(world.tenant_b).get(user=world.charlie)
    link = TelegramLink.objects.create(tenant=world.tenant_b, chat_id=77, user=world.charlie)
    answers = [
        admin_key.post(f"{ACCOUNTS}{theirs.pk}/credentials/", KEYS, format="json"),
        admin_key.delete(f"{ACCOUNTS}{theirs.pk}/credentials/"),
        admin_key.post(BOTS, BOT | {"account": theirs.pk}, format="json"),
        admin_key.patch(f"{MEMBERS}{charlie.pk}/", {"role": "viewer"}, format="json"),
        admin_key.delete(f"{MEMBERS}{charlie.pk}/"),
        admin_key.post(f"{LINKS}{link.pk}/unlink/"),
    ]
    assert [answer.status_code for answer in answers] == [404] * len(answers)
    theirs.refresh_from_db()
    link.refresh_from_db()
    assert not theirs.has_credentials and link.active
    assert Membership.objects.for_tenant(world.tenant_b).get(pk=charlie.pk).role == Role.OWNER


@pytest.mark.parametrize(("url", "body", "field"), [
    (ACCOUNTS, PAPER | {"paper_starting_balance": str(money.PAPER_BALANCE.maximum * 10)},
     "paper_starting_balance"),
    (ACCOUNTS, PAPER | {"exchange_id": "mtgox"}, "exchange_id"),
    (BOTS, BOT | {"account": 1, "capital": str(money.CAPITAL.maximum * 10)}, "capital"),
    (BOTS, BOT | {"account": "x"}, "account"),
    (INVITATIONS, {"email": "not-an-address"}, "email"),
    (INVITATIONS, {"email": "dan@example.com", "role": "king"}, "role"),
    (LINK_CODES, {"email": ""}, "email"),
])
def test_bad_input_is_a_400_naming_the_field(world, admin_key, url, body, field):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.TEAM)
    response = admin_key.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_bad_credentials_are_a_400_that_does_not_echo_them(admin_key, live_account,
                                                          binance_live):
    response = admin_key.post(f"{ACCOUNTS}{live_account.pk}/credentials/",
                              {"api_key": "has a space", "secret": "s3cr3t-value"},
                              format="json")
    assert response.status_code == 400
    assert "s3cr3t-value" not in response.content.decode()
    assert "has a space" not in response.content.decode()


def test_the_bot_limit_of_the_plan_applies(world, admin_key, market):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.FREE)
    account = admin_key.post(ACCOUNTS, PAPER, format="json").json()["id"]
    first = admin_key.post(BOTS, BOT | {"account": account}, format="json")
    second = admin_key.post(BOTS, BOT | {"account": account, "name": "two"}, format="json")
    assert (first.status_code, second.status_code) == (201, 402)
    assert "Pro" in second.json()["error"]["message"]


def test_an_admin_key_invites_changes_a_role_and_removes_a_member(world, admin_key):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.TEAM)
    invited = admin_key.post(INVITATIONS, {"email": "Dan@Example.com", "role": "trader"},
                             format="json")
    assert invited.status_code == 201, invited.content
    assert invited.json()["email"] == "dan@example.com"
    assert "/invitations/" in invited.json()["accept_url"]
    bob = Membership.objects.for_tenant(world.tenant_a).get(user=world.bob)
    changed = admin_key.patch(f"{MEMBERS}{bob.pk}/", {"role": "trader"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "trader"
    listed = admin_key.get(MEMBERS)
    assert {row["email"] for row in listed.json()["results"]} == {"alice@example.com",
                                                                  "bob@example.com"}
    assert admin_key.delete(f"{MEMBERS}{bob.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=bob.pk).exists()
    actions = set(AuditEvent.objects.for_tenant(world.tenant_a).values_list("action", flat=True))
    assert {"member.invite", "member.role_change", "member.remove"} <= actions


def test_the_member_limit_of_the_plan_applies(admin_key):
    response = admin_key.post(INVITATIONS, {"email": "dan@example.com"}, format="json")
    assert response.status_code == 402
    assert "Team" in response.json()["error"]["message"]


def test_a_key_cannot_make_an_owner_or_remove_the_last_one(world, admin_key):
    Tenant.objects.filter(pk=world.tenant_a.pk).update(plan=Plan.TEAM)
    alice = Membership.objects.for_tenant(world.tenant_a).get(user=world.alice)
    bob = Membership.objects.for_tenant(world.tenant_a).get(user=world.bob)
    promoted = admin_key.patch(f"{MEMBERS}{bob.pk}/", {"role": "owner"}, format="json")
    removed = admin_key.delete(f"{MEMBERS}{alice.pk}/")
    assert (promoted.status_code, removed.status_code) == (403, 403)
    assert Membership.objects.filter(pk=alice.pk, role=Role.OWNER).exists()


def test_an_admin_key_mints_a_telegram_code_and_unlinks_a_chat(world, admin_key):
    issued = admin_key.post(LINK_CODES, {"email": "bob@example.com"}, format="json")
    assert issued.status_code == 201, issued.content
    code = TelegramLinkCode.objects.for_tenant(world.tenant_a).get()
    assert code.user == world.bob and len(issued.json()["code"]) >= 16
    link = TelegramLink.objects.create(tenant=world.tenant_a, chat_id=42, user=world.bob)
    assert [row["id"] for row in admin_key.get(LINKS).json()["results"]] == [link.pk]
    unlinked = admin_key.post(f"{LINKS}{link.pk}/unlink/")
    assert unlinked.status_code == 200 and unlinked.json()["active"] is False
    actions = set(AuditEvent.objects.for_tenant(world.tenant_a).values_list("action", flat=True))
    assert {"telegram.link_code", "telegram.unlink"} <= actions


def test_a_telegram_code_for_someone_outside_the_workspace_is_a_400(world, admin_key):
    make_user("stranger@example.com")
    response = admin_key.post(LINK_CODES, {"email": "stranger@example.com"}, format="json")
    assert response.status_code == 400 and "email" in response.json()["error"]["fields"]
    assert not TelegramLinkCode.objects.exists()
