"""The one way tenant-owned rows are stored and queried.

Every tenant-owned model inherits TenantScopedModel and is read through
`Model.objects.for_tenant(tenant)`. There is no thread-local "current tenant": scoping is
explicit at every call site, and a test fails when a query skips it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from tenants.models import Tenant


class TenantQuerySet(models.QuerySet):
    """QuerySet of a tenant-owned model; `for_tenant` is the only sanctioned entry point."""

    def for_tenant(self, tenant: Tenant | int) -> TenantQuerySet:
        """Rows that belong to `tenant` (a Tenant or its id); never None, never 'all'."""
        tenant_id = tenant if isinstance(tenant, int) else getattr(tenant, "pk", None)
        if tenant_id is None:
            raise ValueError("for_tenant() needs a saved tenant; refusing to return all rows.")
        return self.filter(tenant_id=tenant_id)

    def all_tenants(self, *, reason: str) -> TenantQuerySet:
        """Rows of every tenant, for platform work that is cross-tenant by nature (the
        scheduler, reconciliation, billing sweeps, admin). `reason` says why at the call
        site, so a reader (and the isolation test) can tell a deliberate escape from a
        forgotten `for_tenant`."""
        if not reason or not reason.strip():
            raise ValueError("all_tenants() needs a reason: say why this query spans tenants.")
        return self.all()


class TenantScopedModel(models.Model):
    """Abstract base of every tenant-owned model: an indexed, protected tenant foreign key."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, db_index=True,
                               related_name="+")

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True
