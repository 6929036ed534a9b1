"""One factory per tenant-owned model, used by the isolation meta-test and other tests.

The isolation test fails when a TenantScopedModel has no factory here, so every model a
later change adds is covered by the cross-tenant checks as soon as it exists.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta

from django.db import models
from django.utils import timezone

from tenants.actors import Actor
from tenants.models import ApiKey, AuditEvent, Invitation, Membership, Role, Tenant, User
from tenants.services import api_key_issue

Factory = Callable[[Tenant], models.Model]
MODEL_FACTORIES: dict[type[models.Model], Factory] = {}
_counter = itertools.count(1)


def factory(model: type[models.Model]) -> Callable[[Factory], Factory]:
    """Register `function(tenant) -> instance` as the factory of `model`."""

    def register(function: Factory) -> Factory:
        MODEL_FACTORIES[model] = function
        return function

    return register


def make(model: type[models.Model], tenant: Tenant) -> models.Model:
    """A saved instance of `model` owned by `tenant`."""
    return MODEL_FACTORIES[model](tenant)


@factory(Membership)
def make_membership(tenant: Tenant) -> Membership:
    user = User.objects.create_user(f"member{next(_counter)}@example.com", "x" * 12)
    return Membership.objects.create(tenant=tenant, user=user, role=Role.TRADER)


@factory(ApiKey)
def make_api_key(tenant: Tenant) -> ApiKey:
    return api_key_issue(tenant=tenant, actor=Actor.system(tenant), name="factory",
                         scopes=["read"])[0]


@factory(Invitation)
def make_invitation(tenant: Tenant) -> Invitation:
    return Invitation.objects.create(
        tenant=tenant, email=f"invitee{next(_counter)}@example.com", role=Role.VIEWER,
        token_hash=f"{next(_counter):064d}", expires_at=timezone.now() + timedelta(days=1))


@factory(AuditEvent)
def make_audit_event(tenant: Tenant) -> AuditEvent:
    return AuditEvent.objects.create(tenant=tenant, actor_label="factory", via="test",
                                     action="factory.make")
