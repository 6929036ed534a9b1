"""python manage.py member --tenant SLUG list
python manage.py member --tenant SLUG invite --email E [--role viewer] [--site-url URL]
python manage.py member --tenant SLUG role --email E --role R
python manage.py member --tenant SLUG remove --email E

`invite` prints the one-time link to join (e-mailed too when --site-url names this site);
plan limits, the last-owner rule and the audit log are the members page's.
"""
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from tenants import services
from tenants.cli import cli_actor, cli_call, cli_tenant
from tenants.models import Membership, Role, Tenant
from tenants.selectors import membership_list


class Command(BaseCommand):
    """See the module docstring."""

    help = "List, invite, change the role of or remove a tenant's members."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Tenant slug.")
        parser.add_argument("action", choices=["list", "invite", "role", "remove"])
        parser.add_argument("--email", default="", help="The member's (or invitee's) e-mail.")
        parser.add_argument("--role", default=Role.VIEWER, choices=Role.values)
        parser.add_argument("--site-url", default=None,
                            help="This site's address, e.g. https://trade.example.com: the "
                                 "invitation is then e-mailed and its link is absolute.")

    def handle(self, *args, **options) -> None:
        tenant = cli_tenant(options["tenant"])
        action = options["action"]
        if action == "list":
            for membership in membership_list(tenant=tenant):
                self.stdout.write(f"{membership.user.email}\t{membership.role}")
            return
        email = options["email"].strip().lower()
        if not email:
            raise CommandError(f"'{action}' needs --email.")
        if action == "invite":
            self.stdout.write(_invite(tenant, email, options["role"], options["site_url"]))
            return
        membership = _member(tenant, email)
        if action == "role":
            cli_call(services.membership_change_role, tenant=tenant, actor=cli_actor(tenant),
                     membership_id=membership.pk, role=options["role"])
            self.stdout.write(f"{email} is now {options['role']}.")
        else:
            cli_call(services.membership_remove, tenant=tenant, actor=cli_actor(tenant),
                     membership_id=membership.pk)
            self.stdout.write(f"{email} is removed; the keys they minted are revoked.")


def _invite(tenant: Tenant, email: str, role: str, site_url: str | None) -> str:
    site_url = site_url.rstrip("/") if site_url else None
    _invitation, token = cli_call(services.membership_invite, tenant=tenant,
                                  actor=cli_actor(tenant), email=email, role=role,
                                  site_url=site_url)
    return (site_url or "") + reverse("accept_invitation", args=[token])


def _member(tenant: Tenant, email: str) -> Membership:
    membership = membership_list(tenant=tenant).filter(user__email=email).first()
    if membership is None:
        raise CommandError(f"{email} is not a member of tenant '{tenant.slug}'.")
    return membership
