"""Writing the audit log. Services call `audit_record` inside their transaction."""
from __future__ import annotations

from typing import Any

from tenants.actors import Actor
from tenants.models import AuditEvent, Tenant


def audit_record(*, tenant: Tenant, actor: Actor, action: str, target: str = "",
                 details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one audit event for `actor` doing `action` on `target` in `tenant`."""
    return AuditEvent.objects.create(
        tenant=tenant,
        actor_user=actor.user,
        actor_key=actor.api_key,
        actor_label=actor.label,
        via=actor.via,
        action=action,
        target=target[:200],
        details=details or {},
        ip=actor.ip,
        user_agent=(actor.user_agent or "")[:300],
    )
