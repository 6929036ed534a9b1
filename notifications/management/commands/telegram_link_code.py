"""python manage.py telegram_link_code --tenant SLUG --user EMAIL

Prints a fresh one-time link code alone on stdout (valid 10 minutes, works once); `/start CODE`
in a Telegram chat links it to the tenant as that member.
"""
from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ServiceError
from notifications.services import link_code_issue
from tenants.actors import Actor
from tenants.selectors import membership_list, tenant_get_by_slug


class Command(BaseCommand):
    """See the module docstring."""

    help = "Create a one-time Telegram link code for a member of a tenant and print it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--user", required=True, help="E-mail of the member to link as.")

    def handle(self, *args, **options) -> None:
        tenant = tenant_get_by_slug(slug=options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.")
        email = options["user"].strip().lower()
        membership = membership_list(tenant=tenant).filter(user__email=email).first()
        if membership is None:
            raise CommandError(f"{email} is not a member of tenant '{tenant.slug}'.")
        try:
            _row, code = link_code_issue(tenant=tenant, actor=Actor.system(tenant, via="cli"),
                                         user=membership.user)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(code)
