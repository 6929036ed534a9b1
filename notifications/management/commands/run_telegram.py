"""python manage.py run_telegram [--once] [--timeout S]

Long-polls the Bot API for updates and answers them until stopped (Ctrl-C or SIGTERM); polling
switches a webhook off, because Telegram allows one or the other (see `telegram_webhook`).
While Telegram cannot be reached it waits and retries with backoff, logging once when the
connection is lost and once when it is back. Without a token it says so and exits 0: there is
nothing to poll, and a supervisor that restarts on failure (compose, systemd) leaves it be.
"""
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from telegram.error import TelegramError

from aitrader.errors import ServiceError
from notifications.handlers import POLL_TIMEOUT, poll, poll_until_stopped
from notifications.transport import is_configured, redact


class Command(BaseCommand):
    """See the module docstring."""

    help = "Answer Telegram commands by long polling (development; production uses the webhook)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true",
                            help="Handle one batch of updates and exit.")
        parser.add_argument("--timeout", type=int, default=POLL_TIMEOUT,
                            help=f"Long-poll seconds (default {POLL_TIMEOUT}).")

    def handle(self, *args, **options) -> None:
        if not 0 <= options["timeout"] <= 50:
            raise CommandError("--timeout must be between 0 and 50 seconds.")
        if not options["once"] and not is_configured():
            self.stderr.write("Telegram is not configured (set AITRADER_TELEGRAM_BOT_TOKEN): "
                              "nothing to poll, exiting.")
            return
        stop = threading.Event()
        self._on_signals(stop)
        if not options["once"]:
            self.stderr.write("Polling Telegram for updates; Ctrl-C to stop.")
        try:
            if options["once"]:
                handled = poll(stop=stop, once=True, timeout=options["timeout"])
            else:
                handled = poll_until_stopped(stop=stop, timeout=options["timeout"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        except TelegramError as exc:  # e.g. the token was refused; PTB's message quotes it
            raise CommandError(f"Telegram: {redact(exc.message)}") from None
        self.stderr.write(f"Stopped after {handled} update(s).")

    def _on_signals(self, stop: threading.Event) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
