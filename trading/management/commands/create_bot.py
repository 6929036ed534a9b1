"""python manage.py create_bot --tenant SLUG --account ID --name N --symbol BTC/USDT
--strategy sma_cross [--timeframe 1m] [--preset balanced] [--capital 1000]
[--param fast=3 --param slow=8 ...]

Prints the new bot's id alone on stdout. The bot starts running: the scheduler ticks it.
Plan limits, parameter ranges and money bounds are the page's and the API's.
"""
import json

from django.core.management.base import BaseCommand, CommandError

from tenants.cli import cli_actor, cli_call, cli_decimal, cli_tenant
from trading.services.bots import bot_create


class Command(BaseCommand):
    """See the module docstring."""

    help = "Create a running bot on one of a tenant's exchange accounts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--account", required=True, type=int, help="Exchange account id.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--symbol", required=True, help="For example BTC/USDT.")
        parser.add_argument("--strategy", required=True, help="See GET /api/v1/strategies/.")
        parser.add_argument("--timeframe", default="1m")
        parser.add_argument("--preset", default="balanced",
                            help="conservative, balanced or aggressive.")
        parser.add_argument("--capital", default="1000", help="In the quote currency.")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="A strategy parameter; repeat for each.")

    def handle(self, *args, **options) -> None:
        tenant = cli_tenant(options["tenant"])
        bot = cli_call(bot_create, tenant=tenant, actor=cli_actor(tenant), name=options["name"],
                       account_id=options["account"], symbol=options["symbol"],
                       timeframe=options["timeframe"], strategy=options["strategy"],
                       parameters=_parameters(options["param"]), preset=options["preset"],
                       capital=cli_decimal(options["capital"], "--capital"))
        self.stdout.write(str(bot.pk))


def _parameters(pairs: list[str]) -> dict:
    """NAME=VALUE pairs; a value reads as JSON (3, 0.5, true) or else as text."""
    parameters = {}
    for pair in pairs:
        name, separator, text = pair.partition("=")
        if not separator or not name.strip():
            raise CommandError(f"--param {pair}: write NAME=VALUE, for example fast=3.")
        try:
            parameters[name.strip()] = json.loads(text)
        except ValueError:
            parameters[name.strip()] = text
    return parameters
