"""Signal receivers of the tenants app, and the signals it sends."""
from django.dispatch import Signal

# Sent when the vault refuses to decrypt (a tampered or copied row, a missing or wrong master
# key): kwargs tenant_id, name, field, reason. Never carries secret material; notifications
# turns it into an alert. Sent at once, not on commit: the failing transaction rolls back.
vault_failure = Signal()

# Sent once the transaction commits, when a grant ends or changes: an API key revoked, a member
# removed or given another role (kwargs tenant_id, and user_id or key_id). The live feed closes
# or re-checks the sockets it concerns; a lost signal is caught by their periodic re-check.
access_changed = Signal()

# Sent inside the transaction that changes a tenant's plan (billing, a trial, staff): kwargs
# tenant, old_plan, new_plan, reason. Receivers fit what the plan bounds (trading pauses live
# bots and bots over the limit) in the same transaction, so the plan and the bots change
# together or not at all.
plan_changed = Signal()
