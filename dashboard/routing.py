"""WebSocket routes: /ws/live streams a tenant's events."""
from django.urls import path

from dashboard.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live", LiveConsumer.as_asgi())]
