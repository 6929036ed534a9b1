"""python manage.py exchange_account --tenant SLUG create --label L [--exchange binance]
[--mode paper|live] [--balance 10000] [--quote USDT]; ... --tenant SLUG list

`create` prints the new account's id alone on stdout (for scripts); `list` prints one
tab-separated line per account. Credentials are set with `set_credentials`.
"""
from django.core.management.base import BaseCommand

from tenants.cli import cli_actor, cli_call, cli_decimal, cli_tenant
from trading import selectors
from trading.services.accounts import SUPPORTED_EXCHANGES, exchange_account_create


class Command(BaseCommand):
    """See the module docstring."""

    help = "Create or list a tenant's exchange accounts (as an admin does on the settings page)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("action", choices=["create", "list"])
        parser.add_argument("--label", default="", help="Name of the account (create).")
        parser.add_argument("--exchange", default="binance",
                            help=f"One of {', '.join(SUPPORTED_EXCHANGES)}.")
        parser.add_argument("--mode", default="paper", help="paper or live (live: Pro and up).")
        parser.add_argument("--balance", default="10000",
                            help="Paper starting balance in the quote currency.")
        parser.add_argument("--quote", default="USDT", help="Quote currency.")

    def handle(self, *args, **options) -> None:
        tenant = cli_tenant(options["tenant"])
        if options["action"] == "list":
            self._list(tenant)
            return
        account = cli_call(
            exchange_account_create, tenant=tenant, actor=cli_actor(tenant),
            label=options["label"] or options["exchange"], exchange_id=options["exchange"],
            mode=options["mode"], quote_currency=options["quote"],
            paper_starting_balance=cli_decimal(options["balance"], "--balance"))
        self.stdout.write(str(account.pk))

    def _list(self, tenant) -> None:
        for account in selectors.exchange_account_list(tenant=tenant):
            keys = "credentials set" if account.has_credentials else "no credentials"
            self.stdout.write("\t".join([str(account.pk), account.label, account.exchange_id,
                                         account.mode, keys]))
