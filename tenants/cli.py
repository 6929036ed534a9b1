"""What the set-up management commands share: the tenant named by `--tenant`, the operator
acting on it, and service refusals turned into the command's error message."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from django.core.management.base import CommandError

from aitrader.errors import ServiceError
from tenants.actors import Actor
from tenants.models import Tenant
from tenants.selectors import tenant_get_by_slug

Result = TypeVar("Result")


def cli_tenant(slug: str) -> Tenant:
    """The tenant with `slug`, or a CommandError naming it."""
    tenant = tenant_get_by_slug(slug=slug)
    if tenant is None:
        raise CommandError(f"No tenant with slug '{slug}'.")
    return tenant


def cli_actor(tenant: Tenant) -> Actor:
    """The operator at the shell: the platform acting on `tenant`, audited as "cli"."""
    return Actor.system(tenant, via="cli")


def cli_call(service: Callable[..., Result], **kwargs) -> Result:
    """Call `service`; its refusal (plan, bounds, conflict, not found) is the command's error."""
    try:
        return service(**kwargs)
    except ServiceError as exc:
        raise CommandError(exc.message) from None


def cli_decimal(text: str, option: str) -> Decimal:
    """A number typed on the command line; the service checks its bounds."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"{option} must be a number, not '{text}'.") from None
    if not value.is_finite():
        raise CommandError(f"{option} must be a finite number.")
    return value
