"""Billing reads: what the owner sees on Settings and the banner every page shows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from tenants.billing.services import (
    BillingUnavailable,
    billing_configured,
    stripe_call,
    stripe_client,
)
from tenants.models import Subscription, Tenant


@dataclass(frozen=True)
class Invoice:
    number: str
    amount: str
    status: str
    created: datetime
    url: str


@dataclass(frozen=True)
class BillingOverview:
    configured: bool
    subscription: Subscription | None
    invoices: list[Invoice]
    invoices_unavailable: bool = False


def billing_overview(*, tenant: Tenant) -> BillingOverview:
    """What the owner sees on Settings: the subscription (or trial) and recent invoices."""
    subscription = Subscription.objects.for_tenant(tenant).first()
    if not billing_configured() or subscription is None or not subscription.stripe_customer_id:
        return BillingOverview(configured=billing_configured(), subscription=subscription,
                               invoices=[])
    try:
        invoices = _recent_invoices(subscription.stripe_customer_id)
    except BillingUnavailable:
        return BillingOverview(True, subscription, [], invoices_unavailable=True)
    return BillingOverview(True, subscription, invoices)


def _amount(invoice: dict[str, Any]) -> str:
    """Stripe's integer minor units as "29.00 USD" (exact: Decimal, two places)."""
    cents = invoice.get("amount_paid") or invoice.get("amount_due") or 0
    return f"{Decimal(int(cents)) / 100:.2f} {str(invoice.get('currency', '')).upper()}"


def billing_banner(*, tenant: Tenant) -> str | None:
    """The line every page shows during a trial or a grace period (None otherwise)."""
    if not billing_configured():
        return None
    subscription = Subscription.objects.for_tenant(tenant).only(
        "status", "trial_ends_at", "grace_ends_at").first()
    if subscription is None:
        return None
    if subscription.status == Subscription.Status.TRIALING and subscription.trial_ends_at:
        days = max(0, (subscription.trial_ends_at - timezone.now()).days)
        return f"Pro trial: {days} day{'s' if days != 1 else ''} left."
    if subscription.status == Subscription.Status.PAST_DUE and subscription.grace_ends_at:
        return (f"The last payment failed; the plan stays until "
                f"{subscription.grace_ends_at:%d %b %Y}. Update the card to keep it.")
    return None


def _recent_invoices(customer: str) -> list[Invoice]:
    listing = stripe_call(stripe_client().v1.invoices.list, params={"customer": customer,
                                                                "limit": 12})
    return [Invoice(number=item.get("number") or item["id"],
                    amount=_amount(item),
                    status=item.get("status", ""),
                    created=datetime.fromtimestamp(int(item["created"]), tz=UTC),
                    url=item.get("hosted_invoice_url") or "")
            for item in listing.to_dict()["data"]]
