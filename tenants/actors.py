"""Who is acting: the one answer to "may this caller do that?", used by every surface.

An Actor is built by the surface (API request, web page, Telegram chat, CLI) and handed to
services, which check it again and record it in the audit log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

from aitrader.errors import Forbidden
from tenants.models import Role, Scope, role_at_least

if TYPE_CHECKING:
    from tenants.models import ApiKey, Membership, Tenant, User

# The least role a signed-in member needs for each scope of action.
SCOPE_MIN_ROLE = {
    Scope.READ: Role.VIEWER,
    Scope.EXPORT: Role.VIEWER,
    Scope.CONTROL: Role.TRADER,
    Scope.ADMIN: Role.ADMIN,
}


_READ_ROLE = object()  # for_key's default: look the creator's role up


def scopes_of_role(role: str) -> frozenset[str]:
    """The scopes a member of `role` may act in (and so the most a key they mint can do)."""
    return frozenset(scope for scope, minimum in SCOPE_MIN_ROLE.items()
                     if role_at_least(role, minimum))


@dataclass(frozen=True)
class Actor:
    """A member (user + role), an API key (scopes) or the system acting on one tenant."""

    tenant: Tenant | None
    user: User | None = None
    role: str | None = None
    api_key: ApiKey | None = None
    via: str = "web"
    ip: str | None = None
    user_agent: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    # What the key's creator may still do (None: a key the platform minted, no creator).
    key_ceiling: frozenset[str] | None = None
    # An integration (an inbound signal webhook): no person and no key, yet not the system
    # either; it may do its `scopes` in its tenant and nothing else.
    integration: bool = False

    @classmethod
    def for_member(cls, membership: Membership, *, via: str = "web", ip: str | None = None,
                   user_agent: str = "") -> Actor:
        return cls(tenant=membership.tenant, user=membership.user, role=membership.acting_role,
                   via=via, ip=ip, user_agent=user_agent)

    @classmethod
    def for_key(cls, api_key: ApiKey, *, creator_role: str | None | object = _READ_ROLE,
                ip: str | None = None, user_agent: str = "") -> Actor:
        """A key acting; it never grants more than its creator's current role allows.

        `creator_role` is that role when the caller has it at hand (None: the creator is no
        longer a member); by default it is read from the database."""
        if creator_role is _READ_ROLE:
            from tenants.selectors import key_creator_role
            creator_role = key_creator_role(api_key=api_key)
        ceiling = None
        if api_key.created_by_id is not None:
            ceiling = scopes_of_role(creator_role) if creator_role else frozenset()
        return cls(tenant=api_key.tenant, api_key=api_key, via="api", ip=ip,
                   user_agent=user_agent, scopes=frozenset(api_key.scopes), key_ceiling=ceiling)

    @classmethod
    def system(cls, tenant: Tenant | None, *, via: str = "system") -> Actor:
        """The platform itself (CLI, scheduler, circuit breakers): allowed everything."""
        return cls(tenant=tenant, via=via, scopes=frozenset(Scope.values), role=Role.OWNER)

    @classmethod
    def for_integration(cls, tenant: Tenant, *, via: str, scopes: frozenset[str],
                        ip: str | None = None) -> Actor:
        """An outside system acting for one tenant within `scopes` (recorded as `via`)."""
        return cls(tenant=tenant, via=via, ip=ip, scopes=frozenset(scopes), integration=True)

    @property
    def is_system(self) -> bool:
        return self.user is None and self.api_key is None and not self.integration

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.email
        if self.api_key is not None:
            return f"key {self.api_key.prefix}"
        return self.via

    def can(self, scope: str) -> bool:
        """Whether this actor may perform an action of `scope`."""
        if self.is_system:
            return True
        if self.integration:
            return scope in self.scopes
        if self.api_key is not None:
            return self._key_can(scope)
        return self.role is not None and role_at_least(self.role, SCOPE_MIN_ROLE[Scope(scope)])

    def _key_can(self, scope: str) -> bool:
        if self.key_ceiling is not None and scope not in self.key_ceiling:
            return False
        if Scope.ADMIN in self.scopes or scope in self.scopes:
            return True
        # The seed's knob: with it on, any tenant key may control bots.
        return scope == Scope.CONTROL and settings.AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL

    def has_role(self, minimum: str) -> bool:
        """Whether a signed-in member holds at least `minimum` (keys hold no role)."""
        if self.is_system:
            return True
        return self.role is not None and role_at_least(self.role, minimum)

    def require(self, scope: str) -> None:
        """Raise Forbidden unless the actor may perform `scope`."""
        if not self.can(scope):
            raise Forbidden(self._refusal(scope))

    def require_role(self, minimum: str) -> None:
        """Raise Forbidden unless a signed-in member of at least `minimum` is acting."""
        if not self.has_role(minimum):
            raise Forbidden(f"This needs a signed-in {Role(minimum).label.lower()} or above.")

    def _refusal(self, scope: str) -> str:
        if self.integration:
            return f"The {self.via} cannot do '{scope}'."
        if self.api_key is not None and self.key_ceiling is not None \
                and scope not in self.key_ceiling:
            return (f"This API key's creator can no longer do '{scope}' in this workspace, "
                    f"so neither can the key.")
        if self.api_key is not None:
            return f"This API key lacks the '{scope}' scope."
        needed = Role(SCOPE_MIN_ROLE[Scope(scope)]).label.lower()
        return f"Your role ({self.role}) cannot do this; it needs {needed} or above."
