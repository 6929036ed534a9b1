"""The demo workspace that `make run` and `seed_demo` create: its user and its tenant.

The bot the demo trades with is the trading app's part (trading.demo); the `seed_demo`
command calls both.
"""
from __future__ import annotations

from django.conf import settings

from tenants.local_secrets import local_secret
from tenants.models import Tenant, User
from tenants.plans import Plan
from tenants.selectors import tenant_get_by_slug
from tenants.services import tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@example.com"


def demo_password() -> str:
    """The demo login's password: AITRADER_DEMO_PASSWORD, else one kept under var/."""
    return settings.AITRADER_DEMO_PASSWORD or local_secret(settings.VAR_DIR, "demo_password", 12)


def demo_workspace_seed() -> tuple[Tenant, str]:
    """Create the demo user and tenant if missing (and restore the demo password); returns
    the tenant and the password."""
    password = demo_password()
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user = User.objects.create_user(DEMO_EMAIL, password, full_name="Demo Trader")
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    tenant = tenant_get_by_slug(slug=DEMO_SLUG)
    if tenant is None:
        tenant = tenant_create(name="Demo workspace", slug=DEMO_SLUG, owner=user, plan=Plan.PRO)
    return tenant, password
