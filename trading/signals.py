"""Signals other apps listen to (notifications sends alerts from them)."""
from django.dispatch import Signal

# Sent after commit when a circuit breaker pauses a bot: kwargs tenant_id, bot_id, reason.
bot_auto_paused = Signal()
# Sent after commit when an order is rejected or fails: kwargs tenant_id, bot_id, order_id, error.
order_failed = Signal()
# Sent after commit when reconciliation finds drift on a bot that is not running (a running
# one is auto-paused instead): kwargs tenant_id, bot_id, summary.
bot_drift_found = Signal()
