"""Trials for new workspaces, the owner's billing section on Settings, and billing switched off."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from tenants.billing.services import billing_sweep
from tenants.models import Subscription
from tenants.plans import Plan
from tenants.services import user_sign_up
from tests.base import PASSWORD, client_past_second_factor
from tests.tenants.test_billing_webhooks import deliver_outbox, subscribe


def sign_up(email: str = "new@example.com"):
    return user_sign_up(email=email, password=PASSWORD, workspace_name="New desk")


def test_a_new_workspace_gets_fourteen_days_of_pro(db, fake_stripe):
    _, tenant = sign_up()
    subscription = Subscription.objects.for_tenant(tenant).get()
    assert tenant.plan == Plan.PRO
    assert subscription.status == Subscription.Status.TRIALING
    left = subscription.trial_ends_at - timezone.now()
    assert timedelta(days=13, hours=23) < left <= timedelta(days=14)


def test_the_trial_length_is_a_setting(db, fake_stripe, settings):
    settings.AITRADER_TRIAL_DAYS = 0
    _, tenant = sign_up()
    assert tenant.plan == Plan.FREE and not Subscription.objects.for_tenant(tenant).exists()


def test_it_reminds_three_days_before_the_trial_ends_once_then_ends_it(
        db, fake_stripe, django_capture_on_commit_callbacks):
    _, tenant = sign_up()
    ends = Subscription.objects.for_tenant(tenant).get().trial_ends_at
    mail.outbox.clear()
    assert billing_sweep(now=ends - timedelta(days=4))["reminded"] == 0
    assert billing_sweep(now=ends - timedelta(days=3))["reminded"] == 1
    assert billing_sweep(now=ends - timedelta(days=2))["reminded"] == 0
    assert [m.to for m in mail.outbox] == [["new@example.com"]]
    assert "trial" in mail.outbox[0].subject.lower()
    with django_capture_on_commit_callbacks(execute=True):
        assert billing_sweep(now=ends + timedelta(minutes=1))["trials_ended"] == 1
    tenant.refresh_from_db()
    assert tenant.plan == Plan.FREE
    assert any("Free plan" in m.subject for m in mail.outbox)


def test_a_trial_that_is_paid_for_does_not_end(client, db, fake_stripe):
    _, tenant = sign_up()
    subscribe(client, fake_stripe, tenant)
    subscription = Subscription.objects.for_tenant(tenant).get()
    assert subscription.status == Subscription.Status.ACTIVE
    assert billing_sweep(now=timezone.now() + timedelta(days=20))["trials_ended"] == 0
    tenant.refresh_from_db()
    assert tenant.plan == Plan.PRO


def test_without_billing_a_new_workspace_starts_free_as_before(db, settings):
    settings.AITRADER_STRIPE_SECRET_KEY = ""
    _, tenant = sign_up()
    assert tenant.plan == Plan.FREE


def test_the_owner_sees_the_trial_banner_and_the_plan_choice(db, fake_stripe):
    user, _ = sign_up()
    page = client_past_second_factor(user).get("/settings/")
    body = page.content.decode()
    assert 'id="billing-banner"' in body and "Pro trial: 13 days left" in body
    assert "Choose plan" in body and "Billing is not configured" not in body


def test_the_owner_sees_renewal_and_invoices_after_paying(client, world, fake_stripe):
    subscribe(client, fake_stripe, world.tenant_a)
    body = client_past_second_factor(world.alice).get("/settings/").content.decode()
    assert "renews on" in body
    assert "29.00 USD" in body and 'id="invoices"' in body
    assert "Cards, cancellation and invoices" in body
    # a viewer sees neither the subscription nor the invoices
    viewer_body = client_past_second_factor(world.bob).get("/settings/").content.decode()
    assert 'id="invoices"' not in viewer_body and "Choose plan" not in viewer_body


def test_checkout_from_the_page_redirects_to_stripe(world, fake_stripe):
    browser = client_past_second_factor(world.alice)
    response = browser.post("/settings/billing/checkout/", {"plan": "team", "interval": "year"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_stripe.base_url}/pay/cs_")
    session = next(iter(fake_stripe.sessions.values()))
    assert session["line_items"][0]["price"] == "price_team_year"
    assert session["success_url"].startswith("http://testserver/settings/?billing=done")


@pytest.mark.parametrize("form", [{"plan": "gold", "interval": "month"},
                                  {"plan": "pro", "interval": "weekly"}, {}])
def test_a_bad_plan_choice_is_a_message_not_an_error_page(world, fake_stripe, form):
    browser = client_past_second_factor(world.alice)
    response = browser.post("/settings/billing/checkout/", form, follow=True)
    assert response.status_code == 200
    assert "There is no" in response.content.decode() and not fake_stripe.sessions


def test_the_portal_opens_for_a_paying_owner(client, world, fake_stripe):
    subscribe(client, fake_stripe, world.tenant_a)
    response = client_past_second_factor(world.alice).post("/settings/billing/portal/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_stripe.base_url}/portal/bps_")


def test_stripe_down_is_a_message_and_changes_nothing(world, fake_stripe, settings):
    settings.AITRADER_STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    response = client_past_second_factor(world.alice).post(
        "/settings/billing/checkout/", {"plan": "pro", "interval": "month"}, follow=True)
    assert response.status_code == 200
    assert "did not answer" in response.content.decode()


def test_without_billing_the_page_says_so(world, settings):
    settings.AITRADER_STRIPE_SECRET_KEY = ""
    body = client_past_second_factor(world.alice).get("/settings/").content.decode()
    assert "Billing is not configured" in body and "Choose plan" not in body


def test_staff_setting_a_plan_in_admin_pauses_live_bots_too(client, world, fake_stripe,
                                                            admin_user):
    from tests.tenants.test_billing_webhooks import running_bot
    from trading.models import Bot

    live = running_bot(world.tenant_a, mode="live", name="live-admin")
    staff = client_past_second_factor(admin_user)
    tenant = world.tenant_a
    response = staff.post(f"/admin/tenants/tenant/{tenant.pk}/change/", {
        "slug": tenant.slug, "name": tenant.name, "plan": "free", "status": tenant.status,
        "created_at_0": tenant.created_at.strftime("%Y-%m-%d"),
        "created_at_1": tenant.created_at.strftime("%H:%M:%S"),
        # the membership inline's management form (its prefix: the relation has no name)
        "-1-TOTAL_FORMS": "0", "-1-INITIAL_FORMS": "0"})
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.status == Bot.Status.PAUSED and "set by staff" in live.paused_reason
    deliver_outbox(client, fake_stripe)  # nothing queued: staff changes send no Stripe call
