"""python manage.py create_tenant --slug SLUG --owner-email EMAIL [--password PW] [--plan PLAN]
[--paper-account [--paper-balance 10000]]

Without --password a new owner's password is read from stdin (prompted without echo on a
terminal), which keeps it out of `ps` and shell history.

With --paper-account the tenant also gets a first paper account on binance, so a bot can be
created and run from the command line alone (see `create_bot`).
"""
import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from aitrader.errors import ServiceError
from tenants.cli import cli_actor, cli_decimal
from tenants.models import Tenant, User
from tenants.plans import Plan
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant and its owner (the owner account is created if it does not exist)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", help="Display name (defaults to the slug).")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--password", default=None,
                            help="A new owner's password (default: read from stdin).")
        parser.add_argument("--plan", default=Plan.FREE, choices=Plan.values)
        parser.add_argument("--paper-account", action="store_true",
                            help="Also create a first paper exchange account (binance).")
        parser.add_argument("--paper-balance", default="10000",
                            help="Its starting balance in USDT (with --paper-account).")

    def handle(self, *args, **options) -> None:
        email = options["owner_email"].strip().lower()
        try:
            with transaction.atomic():
                owner = User.objects.filter(email=email).first()
                if owner is None:
                    owner = User.objects.create_user(email, _password(options))
                tenant = tenant_create(name=options["name"] or options["slug"],
                                       slug=options["slug"], owner=owner, plan=options["plan"])
                account = _paper_account(tenant, options) if options["paper_account"] else None
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.plan}) owned by {owner.email}")
        if account is not None:
            self.stdout.write(f"Created paper account {account.pk} ({account.label}, "
                              f"{account.paper_starting_balance} {account.quote_currency})")


def _password(options: dict) -> str:
    """A new owner's password, held to the sign-up page's rules."""
    password = options["password"]
    if password is None:
        stream = options.get("stdin") or sys.stdin
        password = (getpass.getpass("Owner's password: ") if stream.isatty()
                    else stream.readline().rstrip("\n"))
    try:
        validate_password(password)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    return password


def _paper_account(tenant: Tenant, options: dict):
    # Imported here: trading builds on tenants, not the other way round.
    from trading.services.accounts import exchange_account_create

    return exchange_account_create(
        tenant=tenant, actor=cli_actor(tenant), label="Paper", exchange_id="binance",
        paper_starting_balance=cli_decimal(options["paper_balance"], "--paper-balance"))
