"""python manage.py reconcile [--account ID]: reconcile live accounts now and print what each
run found (what the beat task runs each minute, one account at a time here).

Each account line gives the fills imported, the currencies checked, those left for the next
run because orders are in flight, and any drift (whose running bots were auto-paused). Exits
1 when a run found drift or could not read the exchange, so a script or an operator notices.
"""
from django.core.management.base import BaseCommand, CommandError

from trading import selectors
from trading.services.reconciliation import ReconcileReport, reconcile_account


class Command(BaseCommand):
    """See the module docstring."""

    help = "Compare live accounts with the ledger now; safe-stop the bots of drifted currencies."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", type=int, help="only this exchange account id")

    def handle(self, *args, **options) -> None:
        accounts = [(tenant_id, account_id) for tenant_id, account_id
                    in selectors.accounts_to_reconcile()
                    if options["account"] in (None, account_id)]
        if not accounts:
            self.stdout.write("No live account with keys and running or paused bots.")
            return
        troubled = 0
        for tenant_id, account_id in accounts:
            report = reconcile_account(tenant_id=tenant_id, account_id=account_id)
            self.stdout.write(_line(tenant_id, report))
            troubled += bool(report.drifts or report.error)
        if troubled:
            raise CommandError(f"{troubled} account(s) drifted or could not be read.")


def _line(tenant_id: int, report: ReconcileReport) -> str:
    parts = [f"account {report.account_id} (tenant {tenant_id}):",
             f"{report.fills_imported} fill(s) imported",
             f"checked {', '.join(report.checked) or 'nothing'}"]
    if report.in_flight:
        parts.append(f"orders in flight on {', '.join(report.in_flight)}")
    parts += [f"DRIFT {drift.currency}: {drift.summary}" for drift in report.drifts]
    if report.error:
        parts.append(f"exchange unreadable: {report.error}")
    return "; ".join(parts)
