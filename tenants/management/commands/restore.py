"""python manage.py restore FILE --yes

Restores a backup made by `backup` into the configured database (meant for a fresh one: the
restore replaces every table) and media root. Refuses before touching anything when the
backup does not decrypt with AITRADER_BACKUP_KEY or AITRADER_VAULT_KEYS /
AITRADER_API_KEY_PEPPERS lack a key the data needs, naming it; afterwards it opens every
tenant's data key and fails loudly if one does not open.
"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ServiceError
from tenants.backups import backup_restore


class Command(BaseCommand):
    help = "Restore a backup into the configured database and media root."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--yes", action="store_true",
                            help="Confirm that the configured database may be replaced.")

    def handle(self, *args, **options) -> None:
        if not options["yes"]:
            raise CommandError("A restore replaces the configured database: pass --yes.")
        try:
            report = backup_restore(path=options["file"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Restored the backup of {report.created_at}: "
                          f"{report.tenants_checked} workspace vault(s) open, "
                          f"{report.media_files} media file(s).")
