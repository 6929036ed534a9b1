"""python manage.py backup [--dir DIR] [--keep N]

Writes one encrypted backup of the database and the media files (AITRADER_BACKUP_KEY) into
DIR (AITRADER_BACKUP_DIR), then keeps the newest N (AITRADER_BACKUP_KEEP). Prints the file.
Compose runs it as the `backup` service, systemd as aitrader-backup.timer.
"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from aitrader.errors import ServiceError
from tenants.backups import backup_create


class Command(BaseCommand):
    help = "Back up the database and media files, encrypted, keeping the newest N."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dir", type=Path, default=None,
                            help="Where backups go (default AITRADER_BACKUP_DIR).")
        parser.add_argument("--keep", type=int, default=None,
                            help="How many backups to keep (default AITRADER_BACKUP_KEEP).")

    def handle(self, *args, **options) -> None:
        keep = options["keep"] if options["keep"] is not None else settings.AITRADER_BACKUP_KEEP
        if not 1 <= keep <= 3650:
            raise CommandError("--keep must be between 1 and 3650.")
        try:
            path = backup_create(directory=options["dir"] or settings.AITRADER_BACKUP_DIR,
                                 keep=keep)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(str(path))
