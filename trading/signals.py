"""Signals other apps listen to (notifications sends alerts from them)."""
from django.dispatch import Signal

# Sent after commit when a circuit breaker pauses a bot: kwargs tenant_id, bot_id, reason.
bot_auto_paused = Signal()
# Sent after commit when an order is rejected or fails: kwargs tenant_id, bot_id, order_id, error.
order_failed = Signal()
