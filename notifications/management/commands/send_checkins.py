"""python manage.py send_checkins: one check-in pass now (what the beat task runs each minute).

A linked chat that has never had a check-in is due at once. Running it twice in a row, or
next to the beat task, sends nothing twice: each slot is claimed in the database.
"""
from django.conf import settings
from django.core.management.base import BaseCommand

from notifications import services, transport


class Command(BaseCommand):
    """See the module docstring."""

    help = "Send the Telegram check-ins that are due now (and re-queue overdue deliveries)."

    def handle(self, *args, **options) -> None:
        if not transport.is_configured():
            self.stderr.write("Telegram is not configured (AITRADER_TELEGRAM_BOT_TOKEN); "
                              "nothing sent.")
            return
        if not settings.AITRADER_TELEGRAM_SEND_CHECKINS:
            self.stderr.write("Check-ins are switched off (AITRADER_TELEGRAM_SEND_CHECKINS).")
            return
        claimed = services.checkin_send_due()
        retried = services.delivery_retry_due()
        self.stdout.write(f"{claimed} check-in(s) sent, {retried} delivery retr"
                          f"{'y' if retried == 1 else 'ies'} queued.")
