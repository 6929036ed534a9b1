"""Helpers of every app's pages: who the signed-in member is, running one action, and the
values a page shows once."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404, HttpRequest

from aitrader.errors import NotFound, ServiceError
from dashboard.net import client_ip, user_agent
from tenants.actors import Actor
from tenants.models import User

# Set when this session passed a second factor (the sign-in's code step, or confirming a code
# while setting 2FA up); holds the user's id so it cannot outlive a change of user.
SESSION_SECOND_FACTOR_KEY = "_2fa_user_id"


def remember_second_factor(session: SessionBase, user: User) -> None:
    """Record that this session proved `user`'s second factor."""
    session[SESSION_SECOND_FACTOR_KEY] = user.pk


def forget_second_factor(session: SessionBase) -> None:
    """The second factor is off: nothing the session proved with it counts any more."""
    session.pop(SESSION_SECOND_FACTOR_KEY, None)


def second_factor_passed(request: HttpRequest) -> bool:
    """Whether the signed-in user has 2FA on and this session passed it."""
    user = request.user
    return bool(user.is_authenticated and user.totp_enabled
                and request.session.get(SESSION_SECOND_FACTOR_KEY) == user.pk)


def show_once_hold(request: HttpRequest, key: str, value: Any) -> None:
    """Carry `value` (a new key, code or secret) in the session from its POST to the next
    page of this workspace, which shows it once (see show_once_take)."""
    request.session[key] = {"tenant": request.tenant.pk, "value": value}


def show_once_take(request: HttpRequest, key: str, *,
                   belongs: Callable[[Any], bool] | None = None) -> Any:
    """The value held under `key`, taken out of the session, when this page is in the
    workspace it was made in (and `belongs(value)`, when given, says it is this page's);
    otherwise None, and the value waits for its own page: a switch to another workspace
    neither shows it there nor loses it."""
    held = request.session.get(key)
    if not isinstance(held, dict) or "tenant" not in held:
        request.session.pop(key, None)  # nothing, or not held by show_once_hold
        return None
    if held["tenant"] != getattr(request.tenant, "pk", None):
        return None
    if belongs is not None and not belongs(held.get("value")):
        return None
    return request.session.pop(key)["value"]


def member_actor(request: HttpRequest) -> Actor:
    """The signed-in member acting in the session's tenant, with where they come from."""
    return Actor.for_member(request.membership, via="web", ip=client_ip(request.META),
                            user_agent=user_agent(request.META))


def run_member_action(request: HttpRequest, service: Callable, *,
                      success: str | Callable[[Any], str], **kwargs: Any) -> Any:
    """Call `service` as the signed-in member and tell them how it went.

    NotFound becomes a 404 (another tenant's object answers like a missing one); any other
    refusal becomes an error message; success a message, possibly built from the result.
    Returns the service's result, or None when it refused.
    """
    try:
        result = service(tenant=request.tenant, actor=member_actor(request), **kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return None
    messages.success(request, success(result) if callable(success) else success)
    return result
