from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        # Signal receivers, and the OpenAPI description of the key authentication.
        from dashboard import live, security  # noqa: F401
        from dashboard.apis import schema  # noqa: F401
        from dashboard.events import send_to_live_feed
        from tenants.events import subscribe

        subscribe(send_to_live_feed)
