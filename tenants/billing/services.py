"""Billing writes: plan changes, trials, Checkout, the Customer Portal and webhooks.

Checkout starts a subscription, the Customer Portal changes cards, cancels and shows
invoices; Stripe tells us what happened through webhooks, verified with the signing secret and
applied once per event id. Every change of plan goes through `plan_change`, which sends
`plan_changed` inside its transaction so the apps that hold plan-bound things (live bots,
bots over the limit) fit them to the new plan atomically with it.

Without `AITRADER_STRIPE_SECRET_KEY` billing is off and plans are set by staff, as before.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from aitrader.errors import NotFound, ServiceError, ValidationFailed
from tenants.actors import Actor
from tenants.mail import send_account_email
from tenants.models import Membership, Role, StripeEvent, Subscription, Tenant
from tenants.plans import Plan, plan_limits
from tenants.services import audit_record
from tenants.signals import plan_changed

logger = logging.getLogger(__name__)

TRIAL_REMINDER_DAYS = 3
STRIPE_TIMEOUT_SECONDS = 10
# Stripe statuses under which the customer keeps the plan they pay for.
PAYING_STATUSES = {"active", "trialing"}
ENDED_STATUSES = {"canceled", "unpaid", "incomplete_expired"}


class WebhookRejected(ValidationFailed):
    """A webhook whose signature does not verify (or that is not an event at all)."""


class BillingUnavailable(ServiceError):
    """Stripe did not answer, or billing is not configured: nothing was changed."""

    status_code = 503
    code = "billing_unavailable"


def billing_configured() -> bool:
    """Whether self-service billing is on (a Stripe secret key is set)."""
    return bool(settings.AITRADER_STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    """The official client, pointed at `AITRADER_STRIPE_API_BASE` (a stand-in in tests)."""
    if not billing_configured():
        raise BillingUnavailable("Billing is not configured; plans are set by staff.")
    return stripe.StripeClient(settings.AITRADER_STRIPE_SECRET_KEY,
                               base_addresses={"api": settings.AITRADER_STRIPE_API_BASE},
                               max_network_retries=2,
                               # Stripe's default waits 80 s; a page must not hang that long.
                               http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_SECONDS))


def stripe_call(call, *args: Any, **kwargs: Any) -> Any:
    """Call Stripe; its errors become one message a person can act on (never Stripe's text,
    which may carry ids and request details)."""
    try:
        return call(*args, **kwargs)
    except stripe.StripeError as error:
        logger.warning("Stripe call failed: %s", type(error).__name__)
        raise BillingUnavailable("The payment provider did not answer; nothing was changed. "
                                 "Try again in a minute.") from None


# --- Plans ------------------------------------------------------------------------------------

@transaction.atomic
def plan_change(*, tenant: Tenant, plan: str, reason: str, actor: Actor | None = None) -> Tenant:
    """Put `tenant` on `plan`: members over its limit keep read access only, and receivers of
    `plan_changed` (trading) pause what the plan no longer allows, in this transaction."""
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    old_plan = tenant.plan
    if old_plan == plan:
        return tenant
    tenant.plan = plan
    tenant.save(update_fields=["plan"])
    _fit_members(tenant)
    actor = actor or Actor.system(tenant, via="billing")
    audit_record(tenant=tenant, actor=actor, action="plan.change", target=plan,
                 details={"from": old_plan, "to": plan, "reason": reason})
    plan_changed.send(sender=Tenant, tenant=tenant, old_plan=old_plan, new_plan=plan,
                      reason=reason)
    transaction.on_commit(lambda: _announce_plan_change(tenant, old_plan, plan, reason))
    return tenant


def _fit_members(tenant: Tenant) -> None:
    """Members past the plan's limit act as viewers, newest first; owners are never limited.
    When the limit rises, the oldest limited members get their role back first."""
    maximum = plan_limits(tenant.plan).max_members
    members = list(Membership.objects.for_tenant(tenant).order_by("created_at", "pk"))
    owners = [m for m in members if m.role == Role.OWNER]
    others = [m for m in members if m.role != Role.OWNER]
    room = len(others) if maximum is None else max(0, maximum - len(owners))
    for position, membership in enumerate(others):
        limited = position >= room
        if membership.limited != limited:
            membership.limited = limited
            membership.save(update_fields=["limited"])


def _announce_plan_change(tenant: Tenant, old_plan: str, new_plan: str, reason: str) -> None:
    """E-mail the owners; a lost mail never undoes the change."""
    context = {"tenant": tenant.name, "old_plan": Plan(old_plan).label,
               "new_plan": Plan(new_plan).label, "reason": reason}
    for email in _owner_emails(tenant):
        try:
            send_account_email(to=email, template="plan_changed", context=context)
        except ServiceError:
            logger.warning("plan change mail for tenant %s not sent", tenant.pk)


def _owner_emails(tenant: Tenant) -> list[str]:
    return list(Membership.objects.for_tenant(tenant).filter(role=Role.OWNER)
                .values_list("user__email", flat=True))


# --- Trials -----------------------------------------------------------------------------------

def billing_trial_start(*, tenant: Tenant) -> Subscription | None:
    """Give a new self-service workspace `AITRADER_TRIAL_DAYS` of Pro (when billing is on)."""
    days = settings.AITRADER_TRIAL_DAYS
    if not billing_configured() or days <= 0 or tenant.plan != Plan.FREE:
        return None
    with transaction.atomic():
        subscription, created = Subscription.objects.for_tenant(tenant).get_or_create(
            tenant=tenant, defaults={"plan": Plan.PRO, "status": Subscription.Status.TRIALING,
                                     "trial_ends_at": timezone.now() + timedelta(days=days)})
        if created:
            plan_change(tenant=tenant, plan=Plan.PRO, reason=f"{days}-day trial of Pro")
    return subscription


def billing_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic pass: remind trials ending within three days, end trials and grace periods
    that ran out (falling back to Free). Returns how many of each it did."""
    now = now or timezone.now()
    done = {"reminded": 0, "trials_ended": 0, "grace_ended": 0}
    due = Subscription.objects.all_tenants(reason="billing sweep over every workspace")
    for subscription in due.filter(status=Subscription.Status.TRIALING,
                                   trial_reminder_sent_at__isnull=True,
                                   trial_ends_at__lte=now + timedelta(days=TRIAL_REMINDER_DAYS),
                                   trial_ends_at__gt=now).select_related("tenant"):
        _remind_trial(subscription, now)
        done["reminded"] += 1
    for subscription in due.filter(status=Subscription.Status.TRIALING,
                                   trial_ends_at__lte=now).select_related("tenant"):
        _end(subscription, Subscription.Status.CANCELED, "the trial ended")
        done["trials_ended"] += 1
    for subscription in due.filter(status=Subscription.Status.PAST_DUE,
                                   grace_ends_at__lte=now).select_related("tenant"):
        _end(subscription, Subscription.Status.CANCELED, "payment failed and the grace ended")
        done["grace_ended"] += 1
    return done


def _remind_trial(subscription: Subscription, now: datetime) -> None:
    tenant = subscription.tenant
    context = {"tenant": tenant.name, "ends": subscription.trial_ends_at}
    for email in _owner_emails(tenant):
        try:
            send_account_email(to=email, template="trial_ending", context=context)
        except ServiceError:
            logger.warning("trial reminder for tenant %s not sent", tenant.pk)
    Subscription.objects.for_tenant(tenant).filter(pk=subscription.pk).update(
        trial_reminder_sent_at=now)


@transaction.atomic
def _end(subscription: Subscription, status: str, reason: str) -> None:
    subscription.status = status
    subscription.grace_ends_at = None
    subscription.save(update_fields=["status", "grace_ends_at", "updated_at"])
    plan_change(tenant=subscription.tenant, plan=Plan.FREE, reason=reason)


# --- Checkout and the portal ------------------------------------------------------------------

def billing_checkout_start(*, tenant: Tenant, actor: Actor, plan: str, interval: str,
                           success_url: str, cancel_url: str) -> str:
    """Open a Stripe Checkout session for `plan` billed per `interval`; returns its URL.
    Only an owner may; the plan changes when Stripe confirms, not here."""
    actor.require_role(Role.OWNER)
    price = settings.AITRADER_STRIPE_PRICES.get(f"{plan}:{interval}")
    if price is None:
        raise ValidationFailed(f"There is no {interval}ly price for the {plan} plan.",
                               field="plan")
    client = stripe_client()
    subscription = Subscription.objects.for_tenant(tenant).first()
    customer = subscription.stripe_customer_id if subscription else ""
    params: dict[str, Any] = {
        "mode": "subscription", "line_items": [{"price": price, "quantity": 1}],
        "client_reference_id": str(tenant.pk), "metadata": {"tenant_id": str(tenant.pk)},
        "subscription_data": {"metadata": {"tenant_id": str(tenant.pk)}},
        "success_url": success_url, "cancel_url": cancel_url,
        "automatic_tax": {"enabled": "true"}}
    if customer:
        params["customer"] = customer
    elif actor.user is not None:
        params["customer_email"] = actor.user.email
    session = stripe_call(client.v1.checkout.sessions.create, params=params)
    audit_record(tenant=tenant, actor=actor, action="billing.checkout", target=plan,
                 details={"interval": interval})
    return session.url


def billing_portal_start(*, tenant: Tenant, actor: Actor, return_url: str) -> str:
    """A Customer Portal session (cards, cancellation, invoices); returns its URL."""
    actor.require_role(Role.OWNER)
    subscription = Subscription.objects.for_tenant(tenant).first()
    if subscription is None or not subscription.stripe_customer_id:
        raise NotFound("This workspace has no subscription to manage yet; choose a plan first.")
    session = stripe_call(stripe_client().v1.billing_portal.sessions.create,
                           params={"customer": subscription.stripe_customer_id,
                                   "return_url": return_url})
    return session.url


# --- Webhooks ---------------------------------------------------------------------------------

def billing_webhook_receive(*, payload: bytes, signature: str) -> str:
    """Verify and apply one Stripe webhook; returns "applied", "duplicate" or "ignored".

    A bad or missing signature raises WebhookRejected (logged without the payload). Each
    event id is applied once; an event older than the last one applied to a subscription
    changes nothing."""
    event = _verified_event(payload, signature)
    with transaction.atomic():
        try:
            with transaction.atomic():
                StripeEvent.objects.create(event_id=event["id"], type=event["type"])
        except IntegrityError:
            return "duplicate"
        handler = _HANDLERS.get(event["type"])
        if handler is None:
            return "ignored"
        return handler(event["data"]["object"], int(event.get("created") or 0))


def _verified_event(payload: bytes, signature: str) -> dict[str, Any]:
    secret = settings.AITRADER_STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BillingUnavailable("Billing webhooks are not configured.")
    try:
        event = stripe.Webhook.construct_event(payload, signature or None, secret)
    except (stripe.SignatureVerificationError, ValueError) as error:
        logger.warning("Stripe webhook refused: %s", type(error).__name__)
        raise WebhookRejected("The webhook signature does not verify.") from None
    return event.to_dict()


def _tenant_of(obj: dict[str, Any]) -> Tenant | None:
    """The workspace an object names: our metadata first, else the customer we stored."""
    tenant_id = (obj.get("metadata") or {}).get("tenant_id") or obj.get("client_reference_id")
    if tenant_id and str(tenant_id).isdigit():
        return Tenant.objects.filter(pk=int(tenant_id)).first()
    customer = obj.get("customer")
    found = (Subscription.objects.all_tenants(reason="a webhook names only the customer")
             .filter(stripe_customer_id=customer).select_related("tenant").first()
             if customer else None)
    return found.tenant if found else None


def _subscription_row(tenant: Tenant) -> Subscription:
    row = Subscription.objects.for_tenant(tenant).select_for_update().first()
    return row or Subscription(tenant=tenant, plan=tenant.plan,
                               status=Subscription.Status.ACTIVE)


def _on_checkout_completed(session: dict[str, Any], created: int) -> str:
    tenant = _tenant_of(session)
    if tenant is None or not session.get("subscription"):
        return "ignored"
    row = _subscription_row(tenant)
    row.stripe_customer_id = session.get("customer") or row.stripe_customer_id
    row.stripe_subscription_id = session["subscription"]
    row.save()
    subscription = stripe_call(stripe_client().v1.subscriptions.retrieve, session["subscription"])
    return _apply_subscription(tenant, subscription.to_dict(), created)


def _on_subscription_changed(subscription: dict[str, Any], created: int) -> str:
    tenant = _tenant_of(subscription)
    if tenant is None:
        return "ignored"
    return _apply_subscription(tenant, subscription, created)


def _apply_subscription(tenant: Tenant, subscription: dict[str, Any], created: int) -> str:
    """Bring the row and the plan in line with Stripe's subscription object."""
    row = _subscription_row(tenant)
    if row.pk and created < row.last_event_at:
        return "ignored"  # older than what we applied: Stripe does not promise order
    plan, interval = _plan_of(subscription)
    row.stripe_subscription_id = subscription.get("id") or row.stripe_subscription_id
    row.stripe_customer_id = subscription.get("customer") or row.stripe_customer_id
    row.plan, row.interval = plan or row.plan, interval or row.interval
    row.current_period_end = _period_end(subscription) or row.current_period_end
    row.last_event_at = max(row.last_event_at, created)
    status = subscription.get("status", "")
    if status in PAYING_STATUSES:
        row.status, row.grace_ends_at, row.trial_ends_at = Subscription.Status.ACTIVE, None, None
        row.save()
        plan_change(tenant=tenant, plan=row.plan, reason=f"subscription {status}")
    elif status == "past_due":
        _start_grace(row)
    elif status in ENDED_STATUSES:
        row.status = Subscription.Status.CANCELED
        row.save()
        plan_change(tenant=tenant, plan=Plan.FREE, reason="subscription ended")
    else:
        row.save()
    return "applied"


def _start_grace(row: Subscription) -> None:
    row.status = Subscription.Status.PAST_DUE
    if row.grace_ends_at is None:
        row.grace_ends_at = timezone.now() + timedelta(days=settings.AITRADER_BILLING_GRACE_DAYS)
        audit_record(tenant=row.tenant, actor=Actor.system(row.tenant, via="billing"),
                     action="billing.payment_failed", target=row.plan,
                     details={"grace_ends_at": row.grace_ends_at.isoformat()})
    row.save()


def _on_subscription_deleted(subscription: dict[str, Any], created: int) -> str:
    tenant = _tenant_of(subscription)
    if tenant is None:
        return "ignored"
    row = _subscription_row(tenant)
    row.status, row.grace_ends_at = Subscription.Status.CANCELED, None
    row.last_event_at = max(row.last_event_at, created)
    row.save()
    plan_change(tenant=tenant, plan=Plan.FREE, reason="subscription cancelled")
    return "applied"


def _on_invoice(invoice: dict[str, Any], created: int, *, paid: bool) -> str:
    tenant = _tenant_of(invoice)
    row = Subscription.objects.for_tenant(tenant).select_for_update().first() if tenant else None
    if row is None:
        return "ignored"
    if not paid:
        _start_grace(row)
    elif row.status == Subscription.Status.PAST_DUE:
        row.status, row.grace_ends_at = Subscription.Status.ACTIVE, None
        row.save()
        plan_change(tenant=tenant, plan=row.plan, reason="payment received")
    return "applied"


_HANDLERS = {
    "checkout.session.completed": _on_checkout_completed,
    "customer.subscription.created": _on_subscription_changed,
    "customer.subscription.updated": _on_subscription_changed,
    "customer.subscription.deleted": _on_subscription_deleted,
    "invoice.paid": lambda invoice, created: _on_invoice(invoice, created, paid=True),
    "invoice.payment_failed": lambda invoice, created: _on_invoice(invoice, created, paid=False),
}


def _plan_of(subscription: dict[str, Any]) -> tuple[str | None, str | None]:
    """(plan, interval) of the subscription's price, from AITRADER_STRIPE_PRICES."""
    items = (subscription.get("items") or {}).get("data") or []
    price = ((items[0].get("price") or {}).get("id") if items else None)
    for key, price_id in settings.AITRADER_STRIPE_PRICES.items():
        if price_id == price:
            plan, interval = key.split(":")
            return plan, interval
    return None, None


def _period_end(subscription: dict[str, Any]) -> datetime | None:
    items = (subscription.get("items") or {}).get("data") or []
    end = (items[0].get("current_period_end") if items else None) or \
        subscription.get("current_period_end")
    return datetime.fromtimestamp(int(end), tz=UTC) if end else None
