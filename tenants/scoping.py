"""The one way tenant-owned rows are stored and queried.

Every tenant-owned model inherits TenantScopedModel and is read through
`Model.objects.for_tenant(tenant)`, locked through `Model.objects.locked_for_tenant(tenant, pk)`,
or, where the work spans tenants by nature, through `Model.objects.all_tenants(reason=...)`.
There is no thread-local "current tenant": scoping is explicit at every call site, and a test
fails when a query skips it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

from aitrader.errors import NotFound

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

    def locked_for_tenant(self, tenant: Tenant | int, pk: int, *, message: str | None = None,
                          missing_ok: bool = False):
        """The tenant's row `pk`, locked (SELECT ... FOR UPDATE) until the caller's transaction
        ends, so a read-check-write on it cannot interleave with another.

        A missing id and another tenant's id are the same NotFound (the API's 404); `message`
        replaces the default "No such <model>." and `missing_ok` returns None instead, for
        callers to whom a vanished row is not an error. Only the model's own row is locked
        (`of=self`): PostgreSQL refuses to lock the nullable side of a select_related join.
        """
        row = self.for_tenant(tenant).select_for_update(of=("self",)).filter(pk=pk).first()
        if row is None and not missing_ok:
            raise NotFound(message or f"No such {self.model._meta.verbose_name}.")
        return row

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
