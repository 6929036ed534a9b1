"""A Free workspace upgrades to Pro through (the stand-in of) Stripe Checkout in a browser.

The owner chooses Pro on Settings, pays on the stand-in's hosted Checkout page, comes back to
Settings and finds live trading unlocked: the stand-in delivered the signed webhooks to the
live server before redirecting, as Stripe does (usually) before the customer is back.
"""
from __future__ import annotations

import copy

import pytest
from playwright.sync_api import expect

from tenants.models import Subscription, Tenant
from tenants.plans import Plan
from tests.e2e.server import LiveServer
from tests.e2e.test_dashboard_flow import Tab, sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def billing_server(fake_stripe, settings, django_db_setup, django_db_blocker):
    """The live server with billing on (no trial: the workspace starts Free), its CSP
    allowing the stand-in's Checkout as Stripe's is allowed in production."""
    settings.AITRADER_TRIAL_DAYS = 0
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"] = ["'self'", fake_stripe.base_url]
    settings.CONTENT_SECURITY_POLICY = policy
    with django_db_blocker.unblock():
        server = LiveServer().start()
    fake_stripe.webhook_url = f"{server.url}/billing/stripe/webhook/"
    yield server
    server.stop()


def test_a_free_workspace_upgrades_to_pro_and_gets_live_trading(billing_server, browser,
                                                                fake_stripe, screenshot):
    tab = Tab(browser, billing_server.url)
    page = tab.page
    sign_up(tab, "payer@example.com", "Payer desk")
    page.goto("/settings/#plan")
    expect(page.locator("#accounts")).to_contain_text("Live trading comes with the Pro plan")
    page.locator("#plan select[name=plan]").select_option("pro")
    page.locator("#plan select[name=interval]").select_option("month")
    page.locator("#plan button", has_text="Choose plan").click()

    expect(page.locator("h1")).to_have_text("Checkout")
    page.locator("button", has_text="Pay").click()

    expect(page.locator("#plan")).to_contain_text("on the Pro plan")
    expect(page.locator("#subscription-status")).to_contain_text("Active")
    expect(page.locator("#accounts button", has_text="Add live account")).to_be_visible()
    screenshot(page, "settings-after-upgrade")
    tenant = Tenant.objects.get(name="Payer desk")
    assert tenant.plan == Plan.PRO
    assert Subscription.objects.for_tenant(tenant).get().stripe_subscription_id
    tab.assert_healthy()
