"""python manage.py telegram_unlink --tenant SLUG --link ID

Unlinks a Telegram chat from a tenant (as an admin does on the Telegram page): the chat gets
nothing more and its commands stop working. The ids are in GET /api/v1/telegram/links/.
"""
from django.core.management.base import BaseCommand

from notifications.services import link_unlink
from tenants.cli import cli_actor, cli_call, cli_tenant


class Command(BaseCommand):
    """See the module docstring."""

    help = "Unlink a Telegram chat from a tenant."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("--link", required=True, type=int, help="Linked chat id.")

    def handle(self, *args, **options) -> None:
        tenant = cli_tenant(options["tenant"])
        link = cli_call(link_unlink, tenant=tenant, actor=cli_actor(tenant),
                        link_id=options["link"])
        self.stdout.write(f"{link.label} is unlinked.")
