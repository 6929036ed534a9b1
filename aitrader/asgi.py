"""ASGI entry point: HTTP goes to Django, /ws/live to the Channels consumer.

The websocket stack checks the Origin (scheme, host and port: the page's own origin or a
trusted one, dashboard.ws_origin), then resolves the caller from the
session cookie or an API key header (never the query string) before the consumer runs.
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitrader.settings.local")
# No persistent database connections under ASGI (Django's advice): each HTTP request runs its
# sync code in a new thread, whose kept connection would never be reused.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from dashboard.channels_auth import TenantAuthMiddlewareStack  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402
from dashboard.ws_origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            TenantAuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
