"""python manage.py set_credentials --tenant SLUG --account ID [--from-env | --remove]

Reads the exchange API key and its secret from stdin, one a line (prompted without echo on
a terminal), or with --from-env from AITRADER_EXCHANGE_API_KEY and AITRADER_EXCHANGE_SECRET.
Never from the command line: arguments are visible to every user in `ps` and kept in shell
history. The keys are verified at the exchange and kept only in the vault, as on the page.
"""
import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from tenants.cli import cli_actor, cli_call, cli_tenant
from trading.services.credentials import exchange_credentials_remove, exchange_credentials_save

# The names of the variables --from-env reads (the API key, then its secret).
ENVIRONMENT_VARIABLES = ("AITRADER_EXCHANGE_API_KEY", "AITRADER_EXCHANGE_SECRET")


class Command(BaseCommand):
    """See the module docstring."""

    help = "Set (from stdin or the environment) or remove a live exchange account's API keys."
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--account", required=True, type=int, help="Exchange account id.")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--from-env", action="store_true",
                            help=f"Read {' and '.join(ENVIRONMENT_VARIABLES)}.")
        source.add_argument("--remove", action="store_true",
                            help="Delete the account's keys from the vault.")

    def handle(self, *args, **options) -> None:
        tenant = cli_tenant(options["tenant"])
        actor = cli_actor(tenant)
        if options["remove"]:
            account = cli_call(exchange_credentials_remove, tenant=tenant, actor=actor,
                               account_id=options["account"])
            self.stdout.write(f"The keys of {account.label} are deleted.")
            return
        api_key, secret = (_from_environment() if options["from_env"]
                           else _from_stdin(options.get("stdin") or sys.stdin))
        saved = cli_call(exchange_credentials_save, tenant=tenant, actor=actor,
                         account_id=options["account"], api_key=api_key, secret=secret)
        self.stdout.write(f"The keys of {saved.account.label} are verified and stored "
                          "encrypted.")
        for warning in saved.warnings:
            self.stderr.write(f"warning: {warning}")


def _from_environment() -> tuple[str, str]:
    missing = [name for name in ENVIRONMENT_VARIABLES if not os.environ.get(name)]
    if missing:
        raise CommandError(f"Set {' and '.join(missing)} in the environment.")
    api_key_name, secret_name = ENVIRONMENT_VARIABLES
    return os.environ[api_key_name], os.environ[secret_name]


def _from_stdin(stream) -> tuple[str, str]:
    if stream.isatty():
        return getpass.getpass("API key: "), getpass.getpass("Secret: ")
    lines = stream.read().splitlines()
    # Missing lines are empty values: the service names the one that is missing.
    return (lines[0] if lines else ""), (lines[1] if len(lines) > 1 else "")
