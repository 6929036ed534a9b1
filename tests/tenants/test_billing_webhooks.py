"""Stripe webhooks: verified, applied once, in order, and safe for money on a downgrade.

The real `stripe` client talks to the local stand-in (tests/fakes/stripe.py); events are
signed with Stripe's real scheme and posted to the real endpoint with the Django test client.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from tenants.billing.services import billing_checkout_start, billing_sweep
from tenants.models import AuditEvent, Membership, Role, StripeEvent, Subscription, Tenant
from tenants.plans import Plan
from tests.base import make_user, owner_actor
from trading.models import Bot, ExchangeAccount, Position

WEBHOOK = "/billing/stripe/webhook/"


def post_event(client, fake, event, *, secret=None, header=None):
    payload, signature = fake.signed(event, secret)
    return client.post(WEBHOOK, data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=signature if header is None else header)


def deliver_outbox(client, fake) -> list:
    responses = [post_event(client, fake, event) for event in fake.outbox]
    fake.outbox.clear()
    return responses


def subscribe(client, fake, tenant: Tenant, plan: str = "pro") -> Subscription:
    """Checkout for `plan`, paid at the stand-in, events delivered: what a customer does."""
    billing_checkout_start(tenant=tenant, actor=owner_actor(tenant), plan=plan,
                           interval="month", success_url="http://testserver/ok",
                           cancel_url="http://testserver/no")
    session_id = next(iter(fake.sessions))
    fake.complete_checkout(session_id)
    assert [r.status_code for r in deliver_outbox(client, fake)] == [200, 200, 200]
    return Subscription.objects.for_tenant(tenant).get()


def running_bot(tenant: Tenant, *, mode: str, name: str) -> Bot:
    account, _ = ExchangeAccount.objects.get_or_create(tenant=tenant, label=f"{mode}-acct",
                                                       defaults={"mode": mode})
    return Bot.objects.create(tenant=tenant, name=name, account=account, symbol="BTC/USDT",
                              timeframe="1m", strategy="sma_cross",
                              parameters={"fast": 5, "slow": 20}, status=Bot.Status.RUNNING)


@pytest.fixture
def free_world(db):
    from tests.base import build_world
    return build_world(plan=Plan.FREE)


def test_it_upgrades_a_free_workspace_once_checkout_is_paid(client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    tenant.refresh_from_db()
    assert tenant.plan == Plan.PRO
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.stripe_subscription_id.startswith("sub_")
    assert subscription.current_period_end > timezone.now()
    created = [p for m, path, p in fake_stripe.requests if path == "/v1/checkout/sessions"][0]
    assert created["line_items"] == [{"price": "price_pro_month", "quantity": "1"}]
    assert created["client_reference_id"] == str(tenant.pk)
    assert AuditEvent.objects.for_tenant(tenant).filter(action="plan.change",
                                                        target="pro").count() == 1


def test_it_rejects_a_forged_or_unsigned_webhook_and_logs_no_payload(client, fake_stripe,
                                                                      free_world, caplog):
    tenant = free_world.tenant_a
    event = fake_stripe.event("customer.subscription.updated", {
        "id": "sub_forged", "status": "active", "metadata": {"tenant_id": str(tenant.pk)},
        "items": {"data": [{"price": {"id": "price_team_month"}}]}})
    caplog.set_level(logging.WARNING)
    forged = post_event(client, fake_stripe, event, secret="whsec_not_the_real_one")
    unsigned = post_event(client, fake_stripe, event, header="")
    garbage = client.post(WEBHOOK, data=b"not json", content_type="application/json",
                          HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    assert [forged.status_code, unsigned.status_code, garbage.status_code] == [400, 400, 400]
    assert forged.json() == {"error": "The webhook signature does not verify."}
    tenant.refresh_from_db()
    assert tenant.plan == Plan.FREE and not StripeEvent.objects.exists()
    assert "sub_forged" not in caplog.text and "price_team_month" not in caplog.text
    assert "Stripe webhook refused" in caplog.text


def test_a_redelivered_event_changes_nothing_twice(client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    deleted = fake_stripe.cancel(subscription.stripe_subscription_id)[0]
    fake_stripe.outbox.clear()
    first = post_event(client, fake_stripe, deleted)
    Tenant.objects.filter(pk=tenant.pk).update(plan=Plan.PRO)  # staff put it back meanwhile
    again = post_event(client, fake_stripe, deleted)
    assert first.json()["outcome"] == "applied" and again.json()["outcome"] == "duplicate"
    tenant.refresh_from_db()
    assert tenant.plan == Plan.PRO
    assert AuditEvent.objects.for_tenant(tenant).filter(action="plan.change",
                                                        target="free").count() == 1


def test_an_older_event_arriving_late_is_ignored(client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    stale = fake_stripe.event("customer.subscription.updated",
                              fake_stripe.subscriptions[subscription.stripe_subscription_id]
                              | {"status": "canceled"})
    stale["created"] = subscription.last_event_at - 60
    assert post_event(client, fake_stripe, stale).json()["outcome"] == "ignored"
    tenant.refresh_from_db()
    assert tenant.plan == Plan.PRO


def test_subscription_deleted_pauses_live_bots_with_the_reason_and_sells_nothing(
        client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    live = running_bot(tenant, mode="live", name="live-1")
    Position.objects.create(tenant=tenant, bot=live, symbol="BTC/USDT",
                            amount=Decimal("0.5"), average_price=Decimal("100"))
    paper = running_bot(tenant, mode="paper", name="paper-1")
    fake_stripe.cancel(subscription.stripe_subscription_id)
    assert deliver_outbox(client, fake_stripe)[0].status_code == 200
    live.refresh_from_db(), paper.refresh_from_db()
    assert live.status == Bot.Status.PAUSED
    assert "Free plan has no live trading" in live.paused_reason
    assert "subscription cancelled" in live.paused_reason
    assert paper.status == Bot.Status.RUNNING  # Free allows one paper bot
    assert Position.objects.for_tenant(tenant).get(bot=live).amount == Decimal("0.5")
    assert not live.orders.exists()


def test_a_downgrade_pauses_bots_over_the_limit_newest_first(client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    bots = [running_bot(tenant, mode="paper", name=f"paper-{n}") for n in range(3)]
    fake_stripe.cancel(subscription.stripe_subscription_id)
    deliver_outbox(client, fake_stripe)
    statuses = [Bot.objects.for_tenant(tenant).get(pk=b.pk).status for b in bots]
    assert statuses == [Bot.Status.RUNNING, Bot.Status.PAUSED, Bot.Status.PAUSED]
    assert "limit of 1 running bot (" in Bot.objects.for_tenant(tenant).get(
        pk=bots[2].pk).paused_reason


def test_a_live_bot_paused_by_a_downgrade_cannot_be_resumed_on_free(client, fake_stripe,
                                                                     free_world):
    from aitrader.errors import PlanLimitExceeded
    from trading.services.bots import bot_resume

    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    live = running_bot(tenant, mode="live", name="live-1")
    fake_stripe.cancel(subscription.stripe_subscription_id)
    deliver_outbox(client, fake_stripe)
    tenant.refresh_from_db()
    with pytest.raises(PlanLimitExceeded, match="Live trading"):
        bot_resume(tenant=tenant, actor=owner_actor(tenant), bot_id=live.pk)


def test_members_over_the_limit_keep_read_access_until_the_plan_allows_them(
        client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant, plan="team")
    trader = make_user("trader@example.com")
    member = Membership.objects.create(tenant=tenant, user=trader, role=Role.TRADER)
    fake_stripe.cancel(subscription.stripe_subscription_id)
    deliver_outbox(client, fake_stripe)
    member.refresh_from_db()
    assert member.limited and member.role == Role.TRADER
    from tenants.actors import Actor
    assert Actor.for_member(member).role == Role.VIEWER
    assert Membership.objects.for_tenant(tenant).get(user=free_world.alice).limited is False
    subscribe(client, fake_stripe, tenant, plan="team")
    member.refresh_from_db()
    assert not member.limited


def test_a_failed_payment_keeps_the_plan_through_the_grace_period_then_ends_it(
        client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    fake_stripe.fail_payment(subscription.stripe_subscription_id)
    deliver_outbox(client, fake_stripe)
    subscription.refresh_from_db(), tenant.refresh_from_db()
    assert subscription.status == Subscription.Status.PAST_DUE
    assert tenant.plan == Plan.PRO
    assert subscription.grace_ends_at > timezone.now() + timedelta(days=6)
    assert billing_sweep(now=subscription.grace_ends_at - timedelta(hours=1))["grace_ended"] == 0
    assert billing_sweep(now=subscription.grace_ends_at + timedelta(hours=1))["grace_ended"] == 1
    tenant.refresh_from_db()
    assert tenant.plan == Plan.FREE


def test_a_retried_payment_ends_the_grace_period(client, fake_stripe, free_world):
    tenant = free_world.tenant_a
    subscription = subscribe(client, fake_stripe, tenant)
    fake_stripe.fail_payment(subscription.stripe_subscription_id)
    deliver_outbox(client, fake_stripe)
    fake_stripe.pay_invoice(subscription.stripe_subscription_id)
    deliver_outbox(client, fake_stripe)
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.grace_ends_at is None


def test_only_the_owner_may_start_checkout(fake_stripe, world):
    from aitrader.errors import Forbidden
    from tenants.actors import Actor

    viewer = Actor.for_member(Membership.objects.for_tenant(world.tenant_a).get(user=world.bob))
    with pytest.raises(Forbidden):
        billing_checkout_start(tenant=world.tenant_a, actor=viewer, plan="pro",
                               interval="month", success_url="http://x/", cancel_url="http://x/")
    assert not fake_stripe.sessions


def test_without_stripe_keys_the_webhook_is_refused_and_plans_stay_with_staff(client, world,
                                                                               settings):
    settings.AITRADER_STRIPE_SECRET_KEY = settings.AITRADER_STRIPE_WEBHOOK_SECRET = ""
    response = client.post(WEBHOOK, data=b"{}", content_type="application/json",
                           HTTP_STRIPE_SIGNATURE="t=1,v1=00")
    assert response.status_code == 503
    assert reverse("dashboard:stripe_webhook") == WEBHOOK
