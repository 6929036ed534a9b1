"""The notifications app: Telegram links, commands, check-ins and alerts."""
from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Connects the alert receivers, the trade-event subscriber of the e-mail and webhook
    channels and the token-redacting log filter at start-up."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import receivers  # noqa: F401  (connects the signal receivers)
        from notifications.services_channels import on_tenant_events
        from notifications.transport import install_log_redaction
        from tenants.events import subscribe

        install_log_redaction()
        subscribe(on_tenant_events)  # trade facts -> entry / exit messages of channels
