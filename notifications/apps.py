"""The notifications app: Telegram links, commands, check-ins and alerts."""
from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Connects the alert receivers and the token-redacting log filter at start-up."""

    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from notifications import receivers  # noqa: F401  (connects the signal receivers)
        from notifications.transport import install_log_redaction

        install_log_redaction()
