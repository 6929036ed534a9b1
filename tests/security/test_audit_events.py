"""Every security-relevant action writes an AuditEvent: who (user or key), what, target, IP,
user agent and time. Sign-ins come from Django's auth signals."""
from __future__ import annotations

import pyotp
import pytest
from django.test import Client

from tenants.models import AuditEvent, Membership, Role
from tenants.services import tenant_create, totp_begin, totp_confirm
from tests.base import PASSWORD
from tests.factories import make
from trading.models import Bot, ExchangeAccount

UA = "audit-test/1.0"


def _events(tenant, action: str):
    return list(AuditEvent.objects.for_tenant(tenant).filter(action=action))


def _login(password: str, email: str = "alice@example.com"):
    return Client(HTTP_USER_AGENT=UA, REMOTE_ADDR="203.0.113.5").post(
        "/accounts/login/", {"email": email, "password": password})


def test_a_sign_in_is_audited_with_address_and_user_agent(world):
    assert _login(PASSWORD).status_code == 302
    [event] = _events(world.tenant_a, "login.success")
    assert (event.actor_user, event.target, event.ip, event.user_agent, event.via) == (
        world.alice, "alice@example.com", "203.0.113.5", UA, "web")


def test_a_failed_sign_in_is_audited_with_its_reason(world):
    _login("wrong")
    [event] = _events(world.tenant_a, "login.failure")
    assert event.details == {"reason": "password"} and event.ip == "203.0.113.5"
    assert event.user_agent == UA
    assert "wrong" not in str(event.details) + event.target, "never the password tried"


def test_a_sign_in_is_audited_in_every_tenant_of_the_user(world):
    tenant_create(name="Side project", owner=world.alice)
    _login(PASSWORD)
    assert AuditEvent.objects.filter(action="login.success", actor_user=world.alice).count() == 2


def test_a_failure_for_an_unknown_account_writes_no_tenant_row(world):
    _login("whatever", email="nobody@example.com")
    assert not AuditEvent.objects.filter(action="login.failure").exists()


def test_a_wrong_2fa_code_is_audited_as_a_failure(world):
    secret = totp_begin(user=world.alice)
    totp_confirm(user=world.alice, code=pyotp.TOTP(secret).now())
    client = Client(HTTP_USER_AGENT=UA)
    client.post("/accounts/login/", {"email": "alice@example.com", "password": PASSWORD})
    client.post("/accounts/login/2fa/", {"code": "000000"})
    [event] = _events(world.tenant_a, "login.failure")
    assert event.details == {"reason": "2fa"}
    assert not _events(world.tenant_a, "login.success"), "not signed in yet"


@pytest.mark.parametrize("method, path, body, action", [
    ("post", "/api/v1/bots/{bot}/pause/", None, "bot.pause"),
    ("post", "/api/v1/bots/{bot}/resume/", None, "bot.resume"),
    ("post", "/api/v1/bots/{bot}/close_all/", None, "bot.close_all"),
    ("patch", "/api/v1/bots/{bot}/", {"name": "renamed"}, "bot.update"),
    ("post", "/api/v1/bots/", {"name": "new", "account": "{account}", "symbol": "BTC/USDT",
                               "strategy": "sma_cross"}, "bot.create"),
])
def test_control_actions_through_the_api_are_audited_with_the_key(world, method, path, body,
                                                                  action):
    bot = make(Bot, world.tenant_a)
    account = ExchangeAccount.objects.get(pk=bot.account_id)
    client = world.client_with_key(world.control_key_a)
    if body and body.get("account") == "{account}":
        body = {**body, "account": account.pk}
    response = getattr(client, method)(path.format(bot=bot.pk), body, format="json",
                                       HTTP_USER_AGENT=UA, REMOTE_ADDR="198.51.100.8")
    assert response.status_code in (200, 201, 202), response.content
    [event] = _events(world.tenant_a, action)
    assert event.actor_key == world.key_row(world.control_key_a)
    assert event.actor_user is None and event.via == "api"
    assert (event.ip, event.user_agent) == ("198.51.100.8", UA)


def test_key_issue_and_revoke_are_audited_with_the_user(world):
    client = world.client_for(world.alice)
    created = client.post("/api/v1/api-keys/", {"name": "ci", "scopes": ["read"]},
                          format="json").json()
    client.post(f"/api/v1/api-keys/{created['id']}/revoke/")
    for action in ("api_key.issue", "api_key.revoke"):
        event = [e for e in _events(world.tenant_a, action) if e.target == created["prefix"]]
        assert event and event[0].actor_user == world.alice, action


def test_member_role_changes_and_removals_are_audited(world):
    bob = Membership.objects.get(tenant=world.tenant_a, user=world.bob)
    client = world.client_for(world.alice)
    client.post(f"/accounts/members/{bob.pk}/role/", {"role": Role.TRADER})
    client.post(f"/accounts/members/{bob.pk}/remove/")
    [change] = _events(world.tenant_a, "member.role_change")
    assert change.details == {"from": "viewer", "to": "trader"}
    assert change.target == "bob@example.com" and change.actor_user == world.alice
    assert _events(world.tenant_a, "member.remove")[0].target == "bob@example.com"


def test_the_engines_own_pauses_are_audited_as_the_system(world):
    from trading.services.bots import bot_auto_pause

    bot = make(Bot, world.tenant_a)
    bot_auto_pause(bot=bot, reason="stale data")
    [event] = _events(world.tenant_a, "bot.auto_pause")
    assert event.via == "engine" and event.actor_user is None and event.actor_key is None


def test_audit_events_are_read_only_in_django_admin(world, admin_client):
    event = make(AuditEvent, world.tenant_a)
    change_url = f"/admin/tenants/auditevent/{event.pk}/change/"
    assert admin_client.get("/admin/tenants/auditevent/").status_code == 200
    assert admin_client.get(change_url).status_code == 200
    admin_client.post(change_url, {"action": "forged"})
    event.refresh_from_db()
    assert event.action != "forged"
