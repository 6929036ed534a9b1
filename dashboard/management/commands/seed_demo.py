"""python manage.py seed_demo [--ticks N]: the demo tenant, its user, and its paper bot.

Idempotent: re-running keeps existing rows and prints the same login. Each app seeds its own
part through its services: tenants the workspace, trading the bot (and the replayed candles).
"""
from django.core.management.base import BaseCommand

from tenants.demo import DEMO_EMAIL, DEMO_SLUG, demo_workspace_seed
from trading.demo import demo_seed_trading


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant 'demo' and user demo@example.com."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ticks", type=int, default=0,
                            help="Also run N replayed candles through the demo bot.")

    def handle(self, *args, **options) -> None:
        tenant, password = demo_workspace_seed()
        demo_seed_trading(tenant=tenant, ticks=options["ticks"])
        self.stdout.write(f"Demo tenant: {DEMO_SLUG}\nLogin: {DEMO_EMAIL}\nPassword: {password}")
