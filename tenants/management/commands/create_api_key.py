"""python manage.py create_api_key --tenant SLUG --scopes read,control [--name N] [--days N]

Prints the new key alone on stdout: it is shown once and cannot be recovered.
"""
from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ServiceError
from tenants.actors import Actor
from tenants.selectors import tenant_get_by_slug
from tenants.services import api_key_issue


class Command(BaseCommand):
    help = "Mint an API key for a tenant and print it (once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--scopes", required=True, help="Comma-separated: read,export,...")
        parser.add_argument("--name", default="CLI key")
        parser.add_argument("--days", type=int, default=None, help="Expiry in days (max 365).")

    def handle(self, *args, **options) -> None:
        tenant = tenant_get_by_slug(slug=options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.")
        try:
            _key, full_key = api_key_issue(
                tenant=tenant, actor=Actor.system(tenant, via="cli"), name=options["name"],
                scopes=options["scopes"].split(","), days=options["days"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(full_key)
