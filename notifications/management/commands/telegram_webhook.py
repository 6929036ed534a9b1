"""python manage.py telegram_webhook --set https://your.host | --delete | --show

Registers the webhook with Telegram: the URL carries a secret path segment and Telegram sends
AITRADER_TELEGRAM_WEBHOOK_SECRET in X-Telegram-Bot-Api-Secret-Token; both are checked.
"""
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from aitrader.errors import ServiceError
from notifications import transport


class Command(BaseCommand):
    """See the module docstring."""

    help = "Set, show or delete the Telegram webhook of the platform bot."

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--set", metavar="BASE_URL", help="e.g. https://trade.example.com")
        group.add_argument("--show", metavar="BASE_URL", help="Print the webhook URL only.")
        group.add_argument("--delete", action="store_true")

    def handle(self, *args, **options) -> None:
        try:
            if options["delete"]:
                transport.webhook_delete()
                self.stdout.write("Webhook deleted.")
                return
            url = self._url(options["set"] or options["show"])
            if options["set"]:
                transport.webhook_set(url, settings.AITRADER_TELEGRAM_WEBHOOK_SECRET)
            self.stdout.write(url)
        except ServiceError as exc:
            raise CommandError(exc.message) from None

    def _url(self, base: str) -> str:
        token = transport.webhook_path_token()
        if token is None:
            raise CommandError("Set AITRADER_TELEGRAM_WEBHOOK_SECRET first "
                               "(letters, digits, _ and -, up to 256 characters).")
        if not base.startswith("https://"):
            raise CommandError("Telegram only calls https:// webhooks.")
        path = reverse("notifications:telegram_webhook", kwargs={"token": token})
        return base.rstrip("/") + path
