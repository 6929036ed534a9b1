"""python manage.py create_tenant --slug SLUG --owner-email EMAIL --password PW [--plan PLAN]"""
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from aitrader.errors import ServiceError
from tenants.models import User
from tenants.plans import Plan
from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant and its owner (the owner account is created if it does not exist)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", help="Display name (defaults to the slug).")
        parser.add_argument("--owner-email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--plan", default=Plan.FREE, choices=Plan.values)

    def handle(self, *args, **options) -> None:
        email = options["owner_email"].strip().lower()
        try:
            with transaction.atomic():
                owner = User.objects.filter(email=email).first()
                if owner is None:
                    owner = User.objects.create_user(email, options["password"])
                tenant = tenant_create(name=options["name"] or options["slug"],
                                       slug=options["slug"], owner=owner, plan=options["plan"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.plan}) owned by {owner.email}")
