"""python manage.py seed_demo [--ticks N]: the demo tenant, its user, and (with trading) a bot.

Idempotent: re-running keeps existing rows and prints the same login.
"""
from django.core.management.base import BaseCommand

from tenants.demo import DEMO_EMAIL, demo_seed


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant 'demo' and user demo@example.com."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ticks", type=int, default=0,
                            help="Also run N replayed candles through the demo bot.")

    def handle(self, *args, **options) -> None:
        password = demo_seed(ticks=options["ticks"])
        self.stdout.write(f"Demo tenant: demo\nLogin: {DEMO_EMAIL}\nPassword: {password}")
