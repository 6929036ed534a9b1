"""Reads of the tenants app."""
from __future__ import annotations

from django.db.models import Case, CharField, F, OuterRef, QuerySet, Subquery, Value, When
from django.utils import timezone

from tenants.models import (
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    RecoveryCode,
    Role,
    Tenant,
    User,
)


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """Every membership of `user`, with its tenant, by tenant name."""
    return (Membership.objects.all_tenants(reason="a user's own memberships span workspaces")
            .filter(user=user).select_related("tenant").order_by("tenant__name"))


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


# `Membership.acting_role` in SQL: a member over the plan's limit acts (and its keys act) as a
# viewer.
_ACTING_ROLE = Case(When(limited=True, then=Value(Role.VIEWER.value)), default=F("role"),
                    output_field=CharField())


def key_creator_role(*, api_key: ApiKey) -> str | None:
    """The current role, in the key's tenant, of the member who minted `api_key` (None when
    they are no longer a member, or the platform minted it)."""
    if hasattr(api_key, "creator_role"):  # read with the key (api_key_authenticate)
        return api_key.creator_role
    if api_key.created_by_id is None:
        return None
    return (Membership.objects.for_tenant(api_key.tenant_id)
            .filter(user_id=api_key.created_by_id).annotate(acting=_ACTING_ROLE)
            .values_list("acting", flat=True).first())


def key_creator_role_subquery() -> Subquery:
    """`key_creator_role` as a subquery, to read it in the query that loads the key."""
    # The outer row is an ApiKey, so the tenant is the key's own: scoped by OuterRef.
    return Subquery(Membership.objects.all_tenants(reason="scoped by OuterRef to the key's tenant")
                    .filter(tenant_id=OuterRef("tenant_id"), user_id=OuterRef("created_by_id"))
                    .annotate(acting=_ACTING_ROLE).values("acting")[:1])


def invitation_list_pending(*, tenant: Tenant) -> QuerySet[Invitation]:
    """Invitations not yet accepted."""
    return Invitation.objects.for_tenant(tenant).filter(accepted_at__isnull=True)


def invitation_get_open(*, token: str) -> Invitation | None:
    """The unused, unexpired invitation `token` opens, with its tenant and inviter; else None.
    The token is the credential here, so no tenant scope applies."""
    return (Invitation.objects.all_tenants(reason="the token alone names the invitation")
            .select_related("tenant", "invited_by")
            .filter(token_hash=Invitation.hash_token(token), accepted_at__isnull=True,
                    expires_at__gt=timezone.now()).first())


def audit_event_list(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    """The tenant's audit log, newest first."""
    return AuditEvent.objects.for_tenant(tenant).select_related("actor_user", "actor_key")


def tenant_get_by_slug(*, slug: str) -> Tenant | None:
    """The tenant with `slug`, or None."""
    return Tenant.objects.filter(slug=slug).first()


def pepper_versions_in_use() -> set[str]:
    """The pepper versions API keys and recovery codes are hashed with, over every tenant
    (what a backup's restore needs in AITRADER_API_KEY_PEPPERS)."""
    keys = ApiKey.objects.all_tenants(reason="a backup covers every tenant's keys")
    return (set(keys.values_list("pepper_version", flat=True))
            | set(RecoveryCode.objects.values_list("pepper_version", flat=True)))

