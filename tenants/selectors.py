"""Reads of the tenants app."""
from __future__ import annotations

from django.db.models import QuerySet

from tenants.models import ApiKey, AuditEvent, Invitation, Membership, Tenant, User


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """Every membership of `user`, with its tenant, by tenant name."""
    return (Membership.objects.filter(user=user).select_related("tenant")
            .order_by("tenant__name"))


def membership_get_for_user(*, user: User, tenant_id: int | None) -> Membership | None:
    """`user`'s membership in the tenant `tenant_id`, else their first, else None."""
    memberships = membership_list_for_user(user=user).filter(tenant__status=Tenant.Status.ACTIVE)
    if tenant_id is not None:
        chosen = memberships.filter(tenant_id=tenant_id).first()
        if chosen is not None:
            return chosen
    return memberships.first()


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    """Members of `tenant` with their users."""
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("created_at")


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    """The tenant's API keys, newest first (hashes are never rendered)."""
    return (ApiKey.objects.for_tenant(tenant).select_related("created_by")
            .order_by("-created_at"))


def invitation_list_pending(*, tenant: Tenant) -> QuerySet[Invitation]:
    """Invitations not yet accepted."""
    return Invitation.objects.for_tenant(tenant).filter(accepted_at__isnull=True)


def audit_event_list(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    """The tenant's audit log, newest first."""
    return AuditEvent.objects.for_tenant(tenant).select_related("actor_user", "actor_key")


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    """The tenant with `slug`, or None."""
    return Tenant.objects.filter(slug=slug).first()
