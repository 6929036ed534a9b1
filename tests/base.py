"""The shared cast of every test: two tenants, three people, two keys.

alice owns tenant A, bob is a viewer in A, charlie owns tenant B. A has a read key and a
control key (minted through the real service, so the full key exists only here).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from dashboard.web import remember_second_factor
from tenants.actors import Actor
from tenants.models import ApiKey, Membership, Role, Tenant, User
from tenants.plans import Plan
from tenants.services import api_key_issue, tenant_create, totp_begin

PASSWORD = "correct-horse-battery-staple"


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    alice: User
    bob: User
    charlie: User
    read_key_a: str
    control_key_a: str
    read_key_b: str
    control_key_b: str

    def key_row(self, full_key: str) -> ApiKey:
        return ApiKey.objects.get(prefix=full_key.split("_")[1])

    def client_with_key(self, full_key: str, header: str = "bearer") -> APIClient:
        client = APIClient()
        if header == "bearer":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {full_key}")
        else:
            client.credentials(HTTP_X_API_KEY=full_key)
        return client

    def client_for(self, user: User) -> APIClient:
        client = APIClient(enforce_csrf_checks=False)
        client.force_login(user)
        return client


def make_user(email: str) -> User:
    return User.objects.create_user(email, PASSWORD)


def client_past_second_factor(user: User) -> Client:
    """A browser signed in as `user` with 2FA on and passed, as the two-step sign-in leaves
    it: what Django admin needs of a staff account."""
    if not user.totp_enabled:
        totp_begin(user=user)
        User.objects.filter(pk=user.pk).update(totp_enabled=True)
        user.totp_enabled = True
    client = Client()
    client.force_login(user)
    session = client.session
    remember_second_factor(session, user)
    session.save()
    return client


def owner_actor(tenant: Tenant) -> Actor:
    membership = Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).first()
    return Actor.for_member(membership, via="test")


def build_world(plan: str = Plan.PRO) -> World:
    alice, bob, charlie = make_user("alice@example.com"), make_user("bob@example.com"), \
        make_user("charlie@example.com")
    tenant_a = tenant_create(name="Tenant A", slug="tenant-a", owner=alice, plan=plan)
    tenant_b = tenant_create(name="Tenant B", slug="tenant-b", owner=charlie, plan=plan)
    Membership.objects.create(tenant=tenant_a, user=bob, role=Role.VIEWER)
    keys = {}
    for tenant in (tenant_a, tenant_b):
        actor = owner_actor(tenant)
        keys[(tenant.slug, "read")] = api_key_issue(tenant=tenant, actor=actor, name="read",
                                                    scopes=["read"])[1]
        keys[(tenant.slug, "control")] = api_key_issue(
            tenant=tenant, actor=actor, name="control", scopes=["read", "control", "export"])[1]
    return World(tenant_a, tenant_b, alice, bob, charlie,
                 keys[("tenant-a", "read")], keys[("tenant-a", "control")],
                 keys[("tenant-b", "read")], keys[("tenant-b", "control")])


def database_url(name: str | None = None) -> str:
    """The test database (or database `name` on the same server, or SQLite file `name`), as
    a DATABASE_URL another process can open."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name or db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    return (f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
            f"{name or db['NAME']}")

