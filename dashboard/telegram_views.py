"""Telegram settings page (link codes, linked chats, alert switches, e-mail and webhook
channels) and the Telegram webhook.

Viewers see the page; admins and owners link, unlink, switch alerts and manage channels
(services check it).
"""
from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from aitrader.bounded_input import InputRefused, json_loads_bounded
from aitrader.errors import ServiceError
from dashboard.post_only import post_only
from dashboard.web import member_actor, run_member_action, show_once_hold, show_once_take
from notifications import selectors, services, transport
from notifications import services_channels as channels
from notifications.models import AlertKind
from notifications.tasks import process_update
from tenants.models import Role

logger = logging.getLogger(__name__)
MAX_UPDATE_BYTES = 1_000_000
# The session key that carries a new link code from its POST to the one page that shows it.
LINK_CODE_SESSION = "telegram_link_code_once"
# The same for a new webhook's signing secret.
CHANNEL_SECRET_SESSION = "notification_channel_secret_once"  # noqa: S105  (a key name)


def _page(request: HttpRequest, *, code: str | None = None,
          channel_secret: str | None = None, status: int = 200) -> HttpResponse:
    tenant = request.tenant
    switches = selectors.notification_settings_get(tenant=tenant)
    return render(request, "notifications/telegram_settings.html", {
        "channels": [(channel, [(event, label, channel.wants(event))
                                for event, label in channels.EVENT_LABELS.items()])
                     for channel in selectors.channel_list(tenant=tenant)],
        "channel_secret": channel_secret,
        "links": selectors.link_list(tenant=tenant),
        "can_manage": member_actor(request).has_role(Role.ADMIN),
        "configured": transport.is_configured(),
        "alert_switches": [(kind.value, kind.label, switches.allows(kind)) for kind in AlertKind],
        "code": code,
        "deep_link": transport.deep_link(code) if code else None,
        "code_minutes": int(services.LINK_CODE_TTL.total_seconds() // 60),
        "default_interval": services.default_interval(),
    }, status=status)


@login_required
@require_GET
def telegram_settings(request: HttpRequest) -> HttpResponse:
    """Linked chats, the alert switches and (for admins) the Link Telegram button."""
    if request.membership is None:
        return redirect("dashboard:overview")
    # A code minted by the POST before is shown once, in its own workspace only.
    return _page(request, code=show_once_take(request, LINK_CODE_SESSION),
                 channel_secret=show_once_take(request, CHANNEL_SECRET_SESSION))


@login_required
@post_only("notifications:telegram_settings")
def telegram_link_code(request: HttpRequest) -> HttpResponse:
    """Mint a one-time code and show it with its deep link (rendered once, never stored)."""
    if request.membership is None:
        return redirect("dashboard:overview")
    try:
        _row, code = services.link_code_issue(tenant=request.tenant, actor=member_actor(request))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("notifications:telegram_settings")
    # Redirect, so a reload mints nothing; the session carries the code to the next page.
    show_once_hold(request, LINK_CODE_SESSION, code)
    return redirect("notifications:telegram_settings")


@login_required
@post_only("notifications:telegram_settings")
def telegram_unlink(request: HttpRequest, link_id: int) -> HttpResponse:
    """Unlink one chat of the current tenant (another tenant's chat is a 404)."""
    if request.membership is None:
        raise Http404("No such linked chat.")
    run_member_action(request, services.link_unlink, link_id=link_id,
                      success=lambda link: f"{link.label} is unlinked.")
    return redirect("notifications:telegram_settings")


@login_required
@post_only("notifications:telegram_settings")
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Save the alert switches (a checkbox left out means off)."""
    if request.membership is None:
        return redirect("dashboard:overview")
    switches = {kind.value: request.POST.get(kind.value) == "on" for kind in AlertKind}
    try:
        services.notification_settings_update(tenant=request.tenant, actor=member_actor(request),
                                              **switches)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Alert settings saved.")
    return redirect("notifications:telegram_settings")


def _channel_switches(request: HttpRequest) -> dict[str, bool]:
    # A checkbox left out means off.
    return {event: request.POST.get(event) == "on" for event in channels.EVENT_LABELS}


@login_required
@post_only("notifications:telegram_settings")
def channel_add(request: HttpRequest) -> HttpResponse:
    """Add an e-mail or webhook channel; a webhook's signing secret is shown once."""
    if request.membership is None:
        return redirect("dashboard:overview")
    try:
        channel, secret = channels.channel_add(
            tenant=request.tenant, actor=member_actor(request),
            kind=request.POST.get("kind", ""), target=request.POST.get("target", ""))
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("notifications:telegram_settings")
    if secret is not None:
        show_once_hold(request, CHANNEL_SECRET_SESSION, secret)
    messages.success(request, f"Channel {channel.display_target} added.")
    return redirect("notifications:telegram_settings")


@login_required
@post_only("notifications:telegram_settings")
def channel_update(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Save one channel's event switches (another tenant's channel is a 404)."""
    if request.membership is None:
        raise Http404("No such notification channel.")
    run_member_action(request, channels.channel_update, channel_id=channel_id,
                      success=lambda channel: f"{channel.display_target} saved.",
                      **_channel_switches(request))
    return redirect("notifications:telegram_settings")


@login_required
@post_only("notifications:telegram_settings")
def channel_remove(request: HttpRequest, channel_id: int) -> HttpResponse:
    """Remove one channel (another tenant's channel is a 404)."""
    if request.membership is None:
        raise Http404("No such notification channel.")
    run_member_action(request, channels.channel_remove, channel_id=channel_id,
                      success=lambda channel: f"{channel.display_target} removed.")
    return redirect("notifications:telegram_settings")


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest, token: str) -> HttpResponse:
    """Telegram's webhook: secret path and X-Telegram-Bot-Api-Secret-Token, else 403."""
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
    if not transport.webhook_request_allowed(token, header):
        return HttpResponseForbidden("Forbidden")
    if not transport.is_configured():
        return JsonResponse({"ok": False, "description": "Telegram is not configured."},
                            status=503)
    if len(request.body) > MAX_UPDATE_BYTES:
        return HttpResponseBadRequest("Update too large")
    try:
        update = json_loads_bounded(request.body)
    except InputRefused:
        return HttpResponseBadRequest("Body is not JSON (or nested too deeply)")
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return HttpResponseBadRequest("Not a Telegram update")
    # Answer at once; a worker handles the update (inline in the embedded default).
    process_update.delay(update)
    return JsonResponse({"ok": True})
