"""Inbound signals: the public webhook that takes a bot's TradingView-style alerts, and the bot
page's "Signal webhook" section (enable / rotate, disable, the last alerts).

The webhook is an unauthenticated POST: the token in its URL names the hook and the secret in
the body (or the X-Aitrader-Secret header) proves the sender, so it is exempt from CSRF. It
spends its own rate-limit budget (per hook token and per IP) before anything else, reads at
most MAX_SIGNAL_BYTES, and answers JSON that never repeats what was sent. The services in
`trading.services.signals` do the work.
"""
from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from aitrader.bounded_input import InputRefused, json_loads_bounded
from aitrader.errors import ServiceError
from dashboard.net import request_ip
from dashboard.post_only import post_only
from dashboard.views import _bot_check, _bot_or_404, member_required
from dashboard.web import member_actor, run_member_action, show_once_hold, show_once_take
from tenants import throttle
from tenants.models import Role
from trading import selectors
from trading.models import Bot
from trading.services import signals

# A TradingView alert message is a few hundred bytes; 10 kB leaves room for a sender's notes.
MAX_SIGNAL_BYTES = 10 * 1024
SECRET_HEADER = "X-Aitrader-Secret"  # noqa: S105  (a header name)
# The session key that carries a new hook's secret from its POST to the bot page, once.
SIGNAL_SECRET_SESSION = "signal_hook_secret_once"  # noqa: S105  (a key name)


def _error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@csrf_exempt
def signal_webhook(request: HttpRequest, token: str) -> JsonResponse:
    """One alert: 200 with its outcome (also for a repeat), 400 for a bad body or field, 404
    for an unknown token or a wrong secret, 413 past 10 kB, 429 past the budget."""
    if request.method != "POST":
        response = _error("Send alerts with POST.", 405)
        response["Allow"] = "POST"
        return response
    try:
        throttle.signal_spend(token=token, ip=request_ip(request))
    except (throttle.RateLimited, throttle.RateLimitUnavailable) as exc:
        response = _error(exc.message, exc.status_code)
        response["Retry-After"] = str(exc.retry_after)
        return response
    raw = _bounded_body(request)
    if raw is None:
        return _error(f"The body is larger than {MAX_SIGNAL_BYTES // 1024} kB.", 413)
    try:
        result = signals.signal_receive(
            token=token, payload=json_loads_bounded(raw), ip=request_ip(request),
            header_secret=request.headers.get(SECRET_HEADER))
    except InputRefused:
        return _error("The body is not valid JSON.", 400)
    except ServiceError as exc:
        return _error(exc.message, exc.status_code, **({"field": exc.field} if exc.field else {}))
    return JsonResponse({"ok": True, "outcome": result.outcome, "queued": result.queued,
                         "repeat": result.repeat})


def _bounded_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is over the limit (read no further than one byte past it)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_SIGNAL_BYTES:
        return None
    raw = request.read(MAX_SIGNAL_BYTES + 1)
    return None if len(raw) > MAX_SIGNAL_BYTES else raw


# --- The bot page's section -------------------------------------------------------------------

def signal_hook_url(request: HttpRequest, token: str) -> str:
    """The hook's full URL, as a sender outside must call it."""
    return request.build_absolute_uri(reverse("signal_webhook", kwargs={"token": token}))


def example_message(secret: str) -> str:
    """A TradingView alert message for this hook ({{...}} are TradingView's placeholders)."""
    return json.dumps({"secret": secret, "action": "enter",
                       "alert_id": "{{ticker}}-{{interval}}-{{timenow}}"})


def signal_hook_panel(request: HttpRequest, bot: Bot) -> dict:
    """The bot page's context for its "Signal webhook" section: the hook, its last alerts
    and, once after enabling or rotating it, its URL and secret."""
    if not member_actor(request).has_role(Role.TRADER):
        return {}
    hook = selectors.signal_hook_for_bot(bot=bot)
    shown = show_once_take(request, SIGNAL_SECRET_SESSION,
                           belongs=lambda held: held.get("bot") == bot.pk)
    once = None
    if shown and hook is not None and hook.token == shown.get("token"):
        once = {"secret": shown["secret"], "message": example_message(shown["secret"])}
    return {"signal_hook": hook, "signal_once": once,
            "signal_url": signal_hook_url(request, hook.token) if hook else None,
            "signal_alerts": selectors.signal_alert_list(bot=bot)}


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_signal_hook_enable(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Enable or rotate the bot's webhook; the page shows its secret once."""
    bot = _bot_or_404(request, bot_id)
    try:
        hook, secret = signals.signal_hook_enable(tenant=request.tenant,
                                                  actor=member_actor(request), bot_id=bot.pk)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:bot_detail", bot_id=bot.pk)
    # Redirect, so a reload mints nothing; the session carries the secret to the page once.
    show_once_hold(request, SIGNAL_SECRET_SESSION,
                   {"bot": bot.pk, "token": hook.token, "secret": secret})
    messages.success(request, f"{bot.name}'s signal webhook is on: copy its secret now, it is "
                              "shown only this once.")
    return redirect(reverse("dashboard:bot_detail", kwargs={"bot_id": bot.pk}) + "#signals")


@member_required
@post_only("dashboard:bot_detail", kwargs=("bot_id",), check=_bot_check)
def bot_signal_hook_disable(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Turn the bot's webhook off: its URL and secret stop working."""
    bot = _bot_or_404(request, bot_id)
    run_member_action(request, signals.signal_hook_disable, bot_id=bot.pk,
                      success=f"{bot.name}'s signal webhook is off.")
    return redirect(reverse("dashboard:bot_detail", kwargs={"bot_id": bot.pk}) + "#signals")
