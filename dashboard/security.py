"""HTTP hardening: baseline headers, session lifetimes, rate-limit enforcement, sign-in events.

- SecurityHeadersMiddleware (outermost): nosniff, X-Frame-Options, Referrer-Policy and
  Cross-Origin-Opener-Policy on every response, static files and early refusals included;
  `Cache-Control: no-store` on every /api/ response and on pages shown to a signed-in user.
- SessionTimeoutMiddleware: signs a session out after AITRADER_SESSION_IDLE_SECONDS without a
  request, and AITRADER_SESSION_ABSOLUTE_SECONDS after sign-in, whatever the activity.
- RateLimitMiddleware: the budgets of tenants.throttle for pages (control actions, key
  creation, sign-in attempts, e-mails sent by account pages) and the per-IP budget of 401
  answers on the API. API budgets themselves are spent by the DRF throttle, after the key is
  authenticated.
- Receivers of Django's sign-in signals: stamp the session, audit success and failure, count
  failures towards the sign-in budget.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.contrib.sessions.backends.base import SessionBase
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from dashboard.net import client_ip, drop_untrusted_forwarding, request_ip, user_agent
from tenants import throttle
from tenants.models import User
from tenants.services import user_login_audit
from tenants.throttle import RateLimited, RateLimitUnavailable

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
SESSION_STARTED_KEY = "_auth_started_at"
SESSION_SEEN_KEY = "_auth_seen_at"
# The last-seen stamp is written at most this often, not on every request (a session save).
SEEN_GRANULARITY_SECONDS = 60


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


# --- Headers ----------------------------------------------------------------------------------

def baseline_headers() -> dict[str, str]:
    """The headers every response carries, from the same settings Django's middleware reads."""
    return {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": settings.X_FRAME_OPTIONS,
        "Referrer-Policy": settings.SECURE_REFERRER_POLICY,
        "Cross-Origin-Opener-Policy": settings.SECURE_CROSS_ORIGIN_OPENER_POLICY,
    }


class SecurityHeadersMiddleware:
    """Adds the baseline headers where nothing inside set them, and forbids caching of API
    answers and signed-in pages (they hold tenant data; a shared cache must not keep it)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in baseline_headers().items():
            response.headers.setdefault(name, value)
        if _is_api(request):
            response["Cache-Control"] = "no-store"
        elif "Cache-Control" not in response and _signed_in(request):
            response["Cache-Control"] = "no-store, private"
        return response


def _signed_in(request: HttpRequest) -> bool:
    # Static files are answered before the session and user are loaded: never signed in.
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


# --- Sessions ---------------------------------------------------------------------------------

def session_is_current(session: SessionBase, now: int) -> bool:
    """Whether a signed-in session is within its idle and absolute lifetimes."""
    started = session.get(SESSION_STARTED_KEY)
    seen = session.get(SESSION_SEEN_KEY, started)
    if started is None:
        return True  # a session from before the stamps existed; stamped on this request
    return (now - started < settings.AITRADER_SESSION_ABSOLUTE_SECONDS
            and now - seen < settings.AITRADER_SESSION_IDLE_SECONDS)


def session_stamp(session: SessionBase, now: int, *, new: bool = False) -> None:
    """Record activity (and, at sign-in, the start) without saving on every request."""
    if new or SESSION_STARTED_KEY not in session:
        session[SESSION_STARTED_KEY] = now
    if new or now - session.get(SESSION_SEEN_KEY, 0) >= SEEN_GRANULARITY_SECONDS:
        session[SESSION_SEEN_KEY] = now


class SessionTimeoutMiddleware:
    """Signs out a session past its idle or absolute lifetime; the request then goes on as
    anonymous (a page redirects to sign-in, the API answers 401)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(time.time())
            if session_is_current(request.session, now):
                session_stamp(request.session, now)
            else:
                logger.info("session of user %s expired", request.user.pk)
                logout(request)  # flushes the session: its key is dead server-side too
        return self.get_response(request)


# --- Rate limits ------------------------------------------------------------------------------

def _pending_2fa_email(request: HttpRequest) -> str:
    from dashboard.accounts.views import PENDING_2FA_KEY

    user_id = request.session.get(PENDING_2FA_KEY)
    email = User.objects.filter(pk=user_id).values_list("email", flat=True).first()
    return email or ""


# Sign-in steps, and how each names the account it tries; failures are counted by the
# receiver below, attempts are refused here once an account + address has too many.
LOGIN_ROUTES: dict[str, Callable[[HttpRequest], str]] = {
    "login": lambda request: request.POST.get("email", ""),
    "login_2fa": _pending_2fa_email,
}
# Pages that send mail to the address posted: each POST spends that address's (and IP's)
# budget, whether or not an account has it, so the answer tells nothing either.
ACCOUNT_EMAIL_ROUTES = ("password_reset", "signup")


def _page_identities(request: HttpRequest) -> list[tuple[str, str]]:
    identities = []
    if _signed_in(request):
        identities.append(("principal", f"user:{request.user.pk}"))
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        identities.append(("tenant", f"tenant:{tenant.pk}"))
    identities.append(("ip", f"ip:{request_ip(request)}"))
    return identities


def refusal_response(request: HttpRequest, exc: RateLimited | RateLimitUnavailable
                     ) -> HttpResponse:
    """429/503 with Retry-After: the API's one JSON error shape, or the error page."""
    if _is_api(request):
        response = JsonResponse({"error": {"code": exc.code, "message": exc.message}},
                                status=exc.status_code)
    else:
        title = "Too many requests" if exc.status_code == 429 else "Try again shortly"
        response = render(request, "error.html", {"title": title, "text": exc.message},
                          status=exc.status_code)
    response["Retry-After"] = str(exc.retry_after)
    return response


class RateLimitMiddleware:
    """Budgets that pages spend, sign-in attempts, and 401s on the API per IP."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _is_api(request):
            return self.get_response(request)
        unauthenticated = [("ip", f"ip:{request_ip(request)}")]
        try:
            # Checked before any key lookup: an IP that keeps presenting bad keys is cheap.
            throttle.check(throttle.budget(throttle.UNAUTHENTICATED), unauthenticated)
        except RateLimited as exc:
            return refusal_response(request, exc)
        response = self.get_response(request)
        if response.status_code == 401:
            throttle.count(throttle.budget(throttle.UNAUTHENTICATED), unauthenticated)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if _is_api(request) or request.resolver_match is None:
            return None  # the API spends its budgets in the DRF throttle
        name = request.resolver_match.view_name
        try:
            if name in LOGIN_ROUTES and request.method == "POST":
                throttle.login_attempt_check(username=LOGIN_ROUTES[name](request),
                                             ip=request_ip(request))
            if name in ACCOUNT_EMAIL_ROUTES and request.method == "POST":
                throttle.account_email_spend(email=request.POST.get("email", ""),
                                             ip=request_ip(request))
            budget_name = throttle.route_budget(name, request.method, api=False)
            if budget_name is not None:
                throttle.spend(throttle.budget(budget_name), _page_identities(request))
        except (RateLimited, RateLimitUnavailable) as exc:
            return refusal_response(request, exc)
        return None


# --- Sign-in events ---------------------------------------------------------------------------

@receiver(user_logged_in, dispatch_uid="dashboard.security.logged_in")
def on_logged_in(sender, request: HttpRequest | None, user: User, **kwargs) -> None:
    """Start the session's clocks and audit the sign-in in each of the user's tenants."""
    if request is None:
        return
    if hasattr(request, "session"):
        session_stamp(request.session, int(time.time()), new=True)
    user_login_audit(user=user, succeeded=True, ip=client_ip(request.META),
                     user_agent=user_agent(request.META))


@receiver(user_login_failed, dispatch_uid="dashboard.security.login_failed")
def on_login_failed(sender, credentials: dict, request: HttpRequest | None = None,
                    **kwargs) -> None:
    """Count the failure towards the sign-in budget and audit it for the account's tenants."""
    username = str(credentials.get("username") or credentials.get("email") or "").lower()
    ip = client_ip(request.META) if request is not None else None
    throttle.login_failure_count(username=username, ip=ip)
    user = User.objects.filter(email=username).first() if username else None
    if user is None:
        logger.info("failed sign-in for an unknown account from %s", ip)
        return
    user_login_audit(user=user, succeeded=False, ip=ip,
                     user_agent=user_agent(request.META) if request is not None else "",
                     reason=str(credentials.get("step") or "password"))


# --- Content-Security-Policy ------------------------------------------------------------------

ADMIN_PREFIX = "/admin/"


class AdminScriptPolicyMiddleware:
    """Django admin's own templates load its static scripts without our nonce; on /admin/
    only, script-src also allows our origin ('self'). Every other page runs only scripts
    that carry the response's nonce. Sits inside csp's middleware, which reads the marker."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(ADMIN_PREFIX):
            response._csp_update = {"script-src": ["'self'"]}
        return response


# --- Forwarded headers ------------------------------------------------------------------------

class TrustedProxyMiddleware:
    """Drops X-Forwarded-Proto/-For/-Host unless the peer is a trusted proxy, before anything
    (the HTTPS redirect, `request.is_secure()`, client IPs) reads them."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        drop_untrusted_forwarding(request.META)
        return self.get_response(request)
