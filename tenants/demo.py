"""The demo workspace that `make run` and `seed_demo` create."""
from __future__ import annotations

from django.conf import settings

from tenants.models import User
from tenants.plans import Plan
from tenants.selectors import tenant_get_by_slug
from tenants.services import tenant_create
from trading.demo import demo_seed_trading

DEMO_SLUG = "demo"
DEMO_EMAIL = "demo@example.com"


def demo_password() -> str:
    """The demo login's password: AITRADER_DEMO_PASSWORD, else one kept under var/."""
    from aitrader.settings.base import _local_secret

    return settings.AITRADER_DEMO_PASSWORD or _local_secret("demo_password", 12)


def demo_seed(*, ticks: int = 0) -> str:
    """Create the demo user and tenant if missing; returns the demo password."""
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
    demo_seed_trading(tenant=tenant, ticks=ticks)
    return password
