from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from dashboard import live, security  # noqa: F401  (signal receivers)
        from dashboard.events import send_to_live_feed
        from tenants.events import subscribe

        subscribe(send_to_live_feed)
