"""/ws/live: a tenant's live event stream."""
from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard.events import tenant_group

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Joins the caller's tenant group only; refuses without a credential holding `read`."""

    async def connect(self) -> None:
        actor = self.scope.get("actor")
        if actor is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not actor.can("read"):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = tenant_group(actor.tenant.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_event(self, message: dict) -> None:
        await self.send_json(message["event"])
