"""A local stand-in for the Stripe API, spoken to by the real `stripe` client.

A threaded HTTP server on 127.0.0.1 (ephemeral port) answers the few `/v1/` endpoints
billing uses, the way Stripe does (form-encoded requests with `a[b][0][c]=` nesting, JSON
objects with `id` and `object`): customers, checkout sessions, billing-portal sessions,
subscriptions and invoices. It also serves a stand-in hosted Checkout page
(`/pay/<session>`): its "Pay" button creates the subscription, delivers the webhook events
Stripe would send (signed with the real scheme: `t=<ts>,v1=HMAC-SHA256(secret, "t.payload")`)
to `webhook_url`, and redirects to the session's success URL.

What tests use:
* `event(type, obj)`: a Stripe event dict; `signed(event)` -> (payload bytes, header).
* `complete_checkout(session_id)`: what the Pay button does, without a browser.
* `cancel(subscription_id)`, `fail_payment(subscription_id)`, `pay_invoice(subscription_id)`:
  change a subscription and deliver (or return) the events Stripe sends for it.
* `requests`: every (method, path, params) that reached the server.
Events go to `webhook_url` when it is set; otherwise they queue in `outbox` for the test to
post itself (with the Django test client, say).
"""
from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import re
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

SECRET_KEY = "sk_test_standin_0123456789"
WEBHOOK_SECRET = "whsec_standin_0123456789abcdef"
PERIOD_SECONDS = 30 * 24 * 3600


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `payload`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (`line_items[0][price]=p`) back into nested dicts/lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


class FakeStripe:
    """The server's state and the operations tests drive."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.outbox: list[dict] = []
        self.webhook_url: str | None = None
        self.webhook_secret = WEBHOOK_SECRET

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self.ids):06d}"

    # -- API objects ---------------------------------------------------------------------

    def create_customer(self, params: dict) -> dict:
        customer = {"id": self.new_id("cus"), "object": "customer",
                    "email": params.get("email"), "metadata": params.get("metadata", {})}
        self.customers[customer["id"]] = customer
        return customer

    def create_session(self, params: dict) -> dict:
        session_id = self.new_id("cs")
        session = {"id": session_id, "object": "checkout.session", "mode": params.get("mode"),
                   "status": "open", "url": f"{self.base_url}/pay/{session_id}",
                   "customer": params.get("customer"),
                   "customer_email": params.get("customer_email"),
                   "client_reference_id": params.get("client_reference_id"),
                   "metadata": params.get("metadata", {}),
                   "subscription_data": params.get("subscription_data", {}),
                   "line_items": params.get("line_items", []),
                   "success_url": params.get("success_url"),
                   "cancel_url": params.get("cancel_url"), "subscription": None}
        self.sessions[session_id] = session
        return session

    def portal_session(self, params: dict) -> dict:
        portal_id = self.new_id("bps")
        return {"id": portal_id, "object": "billing_portal.session",
                "customer": params.get("customer"), "return_url": params.get("return_url"),
                "url": f"{self.base_url}/portal/{portal_id}"}

    def invoice_list(self, query: dict) -> dict:
        customer = query.get("customer")
        data = [invoice for invoice in self.invoices if invoice["customer"] == customer]
        return {"object": "list", "data": data[::-1], "has_more": False, "url": "/v1/invoices"}

    # -- what happens at Stripe ----------------------------------------------------------

    def event(self, event_type: str, obj: dict) -> dict:
        """A Stripe event carrying a copy of `obj`."""
        return {"id": self.new_id("evt"), "object": "event", "type": event_type,
                "created": int(time.time()), "livemode": False, "api_version": "2025-01-01",
                "data": {"object": json.loads(json.dumps(obj))}}

    def signed(self, event: dict, secret: str | None = None) -> tuple[bytes, str]:
        """The body and the `Stripe-Signature` header of `event`."""
        payload = json.dumps(event).encode()
        return payload, sign(payload, secret or self.webhook_secret)

    def deliver(self, *events: dict) -> list[dict]:
        """Post `events` to `webhook_url` in order, or queue them in `outbox`."""
        for event in events:
            if self.webhook_url is None:
                self.outbox.append(event)
                continue
            payload, header = self.signed(event)
            request = urllib.request.Request(  # noqa: S310 (the test's own http:// server)
                self.webhook_url, data=payload, method="POST",
                headers={"Content-Type": "application/json", "Stripe-Signature": header})
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                response.read()
        return list(events)

    def complete_checkout(self, session_id: str) -> list[dict]:
        """Pay for an open session: subscription, paid invoice, and the three events."""
        with self.lock:
            session = self.sessions[session_id]
            customer = session["customer"] or self.create_customer(
                {"email": session["customer_email"]})["id"]
            price = session["line_items"][0]["price"]
            subscription = self._subscription(customer, price, session)
            session.update(status="complete", customer=customer,
                           subscription=subscription["id"])
            invoice = self._invoice(subscription, "paid")
        return self.deliver(self.event("checkout.session.completed", session),
                            self.event("customer.subscription.created", subscription),
                            self.event("invoice.paid", invoice))

    def _subscription(self, customer: str, price: str, session: dict) -> dict:
        now = int(time.time())
        item = {"id": self.new_id("si"), "object": "subscription_item",
                "price": {"id": price, "object": "price"},
                "current_period_start": now, "current_period_end": now + PERIOD_SECONDS}
        subscription = {"id": self.new_id("sub"), "object": "subscription",
                        "customer": customer, "status": "active",
                        "metadata": session.get("subscription_data", {}).get("metadata", {}),
                        "items": {"object": "list", "data": [item]},
                        "current_period_end": now + PERIOD_SECONDS,
                        "cancel_at_period_end": False}
        self.subscriptions[subscription["id"]] = subscription
        return subscription

    def _invoice(self, subscription: dict, status: str) -> dict:
        invoice = {"id": self.new_id("in"), "object": "invoice",
                   "customer": subscription["customer"], "subscription": subscription["id"],
                   "status": status, "amount_paid": 2900 if status == "paid" else 0,
                   "amount_due": 2900, "currency": "usd", "created": int(time.time()),
                   "hosted_invoice_url": f"{self.base_url}/invoice/{len(self.invoices) + 1}",
                   "parent": {"subscription_details": {"subscription": subscription["id"]}}}
        self.invoices.append(invoice)
        return invoice

    def cancel(self, subscription_id: str) -> list[dict]:
        """The customer cancelled (or Stripe gave up): subscription deleted."""
        subscription = self.subscriptions[subscription_id]
        subscription["status"] = "canceled"
        return self.deliver(self.event("customer.subscription.deleted", subscription))

    def fail_payment(self, subscription_id: str) -> list[dict]:
        """A renewal charge failed: the subscription is past due."""
        subscription = self.subscriptions[subscription_id]
        subscription["status"] = "past_due"
        return self.deliver(self.event("invoice.payment_failed",
                                       self._invoice(subscription, "open")),
                            self.event("customer.subscription.updated", subscription))

    def pay_invoice(self, subscription_id: str) -> list[dict]:
        """A retried charge went through: active again."""
        subscription = self.subscriptions[subscription_id]
        subscription["status"] = "active"
        return self.deliver(self.event("invoice.paid", self._invoice(subscription, "paid")),
                            self.event("customer.subscription.updated", subscription))


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            return

        def _params(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            return _nest(parse_qsl(body, keep_blank_values=True))

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _missing(self) -> None:
            self._json(404, {"error": {"type": "invalid_request_error",
                                       "message": f"No such resource: {self.path}"}})

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            query = dict(parse_qsl(url.query))
            fake.requests.append(("GET", url.path, query))
            if url.path.startswith("/pay/"):
                return self._checkout_page(url.path.rsplit("/", 1)[1])
            if url.path.startswith("/v1/subscriptions/"):
                found = fake.subscriptions.get(url.path.rsplit("/", 1)[1])
                return self._json(200, found) if found else self._missing()
            if url.path == "/v1/invoices":
                return self._json(200, fake.invoice_list(query))
            return self._missing()

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            params = self._params()
            fake.requests.append(("POST", url.path, params))
            if url.path.startswith("/pay/"):
                return self._pay(url.path.rsplit("/", 1)[1])
            routes = {"/v1/customers": fake.create_customer,
                      "/v1/checkout/sessions": fake.create_session,
                      "/v1/billing_portal/sessions": fake.portal_session}
            if url.path in routes:
                return self._json(200, routes[url.path](params))
            return self._missing()

        def _checkout_page(self, session_id: str) -> None:
            session = fake.sessions.get(session_id)
            if session is None:
                return self._missing()
            price = html.escape(session["line_items"][0]["price"])
            page = (f"<!doctype html><title>Stand-in Checkout</title><h1>Checkout</h1>"
                    f"<p>Subscribe to <b>{price}</b></p>"
                    f"<form method=post action='/pay/{session_id}'>"
                    f"<button type=submit>Pay</button></form>").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def _pay(self, session_id: str) -> None:
            if session_id not in fake.sessions:
                return self._missing()
            fake.complete_checkout(session_id)
            self.send_response(303)
            self.send_header("Location", fake.sessions[session_id]["success_url"])
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture(scope="session")
def fake_stripe_server() -> FakeStripe:
    """One stand-in Stripe per test session."""
    fake = FakeStripe()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe, settings) -> FakeStripe:
    """The stand-in, reset, with billing configured to use it and its prices."""
    fake_stripe_server.reset()
    settings.AITRADER_STRIPE_SECRET_KEY = SECRET_KEY
    settings.AITRADER_STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.AITRADER_STRIPE_API_BASE = fake_stripe_server.base_url
    settings.AITRADER_STRIPE_PRICES = {"pro:month": "price_pro_month",
                                       "pro:year": "price_pro_year",
                                       "team:month": "price_team_month",
                                       "team:year": "price_team_year"}
    return fake_stripe_server
