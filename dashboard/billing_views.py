"""Billing pages: start Checkout, open the Customer Portal, and Stripe's webhook endpoint.

The views only parse and redirect; `tenants.billing` does the work. The webhook is the one
unauthenticated POST here: Stripe proves itself with the signing secret instead of a session,
so it is exempt from CSRF and answers in JSON.
"""
from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from aitrader.errors import ServiceError
from dashboard.post_only import post_only
from dashboard.views import member_required
from dashboard.web import member_actor
from tenants.billing import services as billing

logger = logging.getLogger(__name__)
# Stripe sends events of a few kilobytes; anything far larger is not from Stripe.
MAX_WEBHOOK_BYTES = 256 * 1024


def _settings_url(request: HttpRequest, outcome: str) -> str:
    return request.build_absolute_uri(reverse("dashboard:settings")) + f"?billing={outcome}#plan"


def _to_stripe(request: HttpRequest, service, **kwargs) -> HttpResponse:
    """Send the owner to the Stripe page `service` opens, or back to Settings saying why not."""
    try:
        url = service(tenant=request.tenant, actor=member_actor(request), **kwargs)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("dashboard:settings") + "#plan")
    return redirect(url)


@member_required
@post_only("dashboard:settings")
def billing_checkout(request: HttpRequest) -> HttpResponse:
    """Owner chose a plan: go to Stripe Checkout (back to Settings either way)."""
    return _to_stripe(request, billing.billing_checkout_start,
                      plan=request.POST.get("plan", ""),
                      interval=request.POST.get("interval", "month"),
                      success_url=_settings_url(request, "done"),
                      cancel_url=_settings_url(request, "cancelled"))


@member_required
@post_only("dashboard:settings")
def billing_portal(request: HttpRequest) -> HttpResponse:
    """Owner manages cards, cancellation and invoices at Stripe's Customer Portal."""
    return _to_stripe(request, billing.billing_portal_start,
                      return_url=_settings_url(request, "portal"))


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Stripe's events: 200 once applied (or known), 400 for a bad signature, 503 to be
    retried when billing cannot process it now. The payload is never logged."""
    if len(request.body) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"error": "payload too large"}, status=413)
    try:
        outcome = billing.billing_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except ServiceError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status_code)
    return JsonResponse({"received": True, "outcome": outcome})


def billing_messages(request: HttpRequest) -> None:
    """The line Settings shows after a round trip to Stripe (`?billing=`)."""
    outcome = request.GET.get("billing")
    if outcome == "done":
        messages.success(request, "Thank you: the plan changes as soon as the payment is "
                                  "confirmed (usually within seconds).")
    elif outcome == "cancelled":
        messages.info(request, "Checkout was cancelled; nothing changed.")
