"""Helpers of every app's pages: who the signed-in member is, and running one action."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest

from aitrader.errors import NotFound, ServiceError
from tenants.actors import Actor
from tenants.net import client_ip, user_agent


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
