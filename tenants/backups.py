"""Backups of the whole platform and their restore: the database, the media files (ML model
files), and a manifest naming the keys a restore needs — never the keys themselves.

A backup is one file, `aitrader-<UTC time>.backup`: a tar archive (manifest.json, the
database, media.tar) encrypted and authenticated with AITRADER_BACKUP_KEY (Fernet). The
database is `pg_dump --format=custom` on PostgreSQL and SQLite's own online backup on the
embedded default. The secrets that make the data readable live outside the database and
must be kept with the backup key, apart from the backups: SECRET_KEY (sessions, signed
links), AITRADER_VAULT_KEYS (every tenant's data key is wrapped with one of them) and
AITRADER_API_KEY_PEPPERS (API keys are hashed with them). The manifest records which vault
key ids and pepper versions the data uses, so a restore checks them before it touches the
database, names what is missing and refuses; after restoring, it opens every tenant's data
key to prove the vault reads.
"""
from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import connection

from aitrader.errors import ServiceError
from tenants import vault
from tenants.keys import configured_pepper_versions
from tenants.selectors import pepper_versions_in_use

BACKUP_SUFFIX = ".backup"
FORMAT_VERSION = 1
# pg_dump / pg_restore of a real platform can take minutes; a hung one must not block forever.
DUMP_TIMEOUT_SECONDS = 3600


class BackupError(ServiceError):
    """A backup or restore that cannot go ahead; the message says what to fix."""


@dataclass(frozen=True)
class RestoreReport:
    """What a restore brought back."""

    created_at: str
    tenants_checked: int
    media_files: int


def backup_create(*, directory: Path, keep: int | None = None) -> Path:
    """Write one encrypted backup into `directory`; with `keep`, delete all but the newest
    `keep` backups there. Returns the new file."""
    fernet = _fernet()
    directory.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as scratch:
        database = _dump_database(Path(scratch))
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            _add_bytes(tar, "manifest.json", json.dumps(_manifest(created)).encode())
            tar.add(database, arcname=database.name)
            _add_bytes(tar, "media.tar", _media_tar())
    target = directory / f"aitrader-{created:%Y%m%dT%H%M%S%fZ}{BACKUP_SUFFIX}"
    partial = target.with_suffix(".partial")
    partial.write_bytes(fernet.encrypt(archive.getvalue()))
    os.chmod(partial, 0o600)
    partial.rename(target)  # a crash mid-write never leaves a file that looks complete
    if keep is not None:
        backup_prune(directory=directory, keep=keep)
    return target


def backup_prune(*, directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `directory`; returns what was deleted."""
    if keep < 1:
        raise BackupError("Keep at least one backup.")
    backups = sorted(directory.glob(f"aitrader-*{BACKUP_SUFFIX}"), reverse=True)
    for old in backups[keep:]:
        old.unlink()
    return backups[keep:]


def backup_restore(*, path: Path) -> RestoreReport:
    """Restore `path` into the configured (empty or disposable) database and media root.

    Refuses, before touching anything, when the backup does not decrypt with
    AITRADER_BACKUP_KEY or the configured vault keys or peppers lack one the data needs;
    after restoring, opens every tenant's data key and fails loudly naming those that do not.
    """
    members = _read_archive(path)
    manifest = json.loads(members["manifest.json"])
    _require_keys(manifest)
    with tempfile.TemporaryDirectory() as scratch:
        name = manifest["database"]["file"]
        dump = Path(scratch) / name
        dump.write_bytes(members[name])
        _restore_database(dump, manifest["database"]["engine"])
    media_files = _restore_media(members["media.tar"])
    failed = vault.data_keys_failing()
    if failed:
        raise BackupError(
            f"Restored, but the vault cannot open the data keys of tenant(s) "
            f"{', '.join(map(str, failed))}: the configured AITRADER_VAULT_KEYS are not the "
            f"ones this backup was made with.")
    return RestoreReport(created_at=manifest["created_at"],
                         tenants_checked=sum(vault.data_keys_by_kid().values()),
                         media_files=media_files)


# --- manifest and keys ----------------------------------------------------------------------


def _manifest(created: datetime) -> dict:
    engine = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    return {
        "format": FORMAT_VERSION,
        "created_at": created.isoformat(),
        "database": {"engine": engine,
                     "file": "database.dump" if engine == "postgresql" else "database.sqlite3"},
        # Which keys the data needs, by id only: the keys are kept apart from the backups.
        "vault_key_ids": sorted(vault.master_key_ids_in_use()),
        "api_key_pepper_versions": sorted(pepper_versions_in_use()),
    }


def _require_keys(manifest: dict) -> None:
    configured_kids = {key.kid for key in vault.master_keys()}
    missing_kids = [kid for kid in manifest["vault_key_ids"] if kid not in configured_kids]
    configured_peppers = configured_pepper_versions()
    missing_peppers = [version for version in manifest["api_key_pepper_versions"]
                       if version not in configured_peppers]
    problems = []
    if missing_kids:
        problems.append(f"AITRADER_VAULT_KEYS lacks master key id(s) {', '.join(missing_kids)}"
                        f" (every tenant's secrets are wrapped with them)")
    if missing_peppers:
        problems.append(f"AITRADER_API_KEY_PEPPERS lacks version(s) "
                        f"{', '.join(missing_peppers)} (API keys are hashed with them)")
    if problems:
        raise BackupError("This backup cannot be restored here: " + "; ".join(problems)
                          + ". Nothing was restored.")


def _fernet() -> Fernet:
    key = settings.AITRADER_BACKUP_KEY
    if not key:
        raise BackupError("Set AITRADER_BACKUP_KEY (python -c \"from cryptography.fernet "
                          "import Fernet; print(Fernet.generate_key().decode())\") and keep "
                          "it apart from the backups.")
    try:
        return Fernet(key)
    except ValueError:
        raise BackupError("AITRADER_BACKUP_KEY must be 32 url-safe base64-encoded bytes "
                          "(a Fernet key).") from None


def _read_archive(path: Path) -> dict[str, bytes]:
    try:
        plain = _fernet().decrypt(path.read_bytes())
    except OSError as exc:
        raise BackupError(f"Cannot read {path}: {exc.strerror}.") from None
    except InvalidToken:
        raise BackupError(f"{path} does not decrypt with AITRADER_BACKUP_KEY: the key differs "
                          f"from the one it was made with, or the file is damaged.") from None
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        return {member.name: tar.extractfile(member).read() for member in tar.getmembers()
                if member.isfile()}


# --- database ----------------------------------------------------------------------------------


def _dump_database(scratch: Path) -> Path:
    if connection.vendor == "postgresql":
        target = scratch / "database.dump"
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target)])
        return target
    target = scratch / "database.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(target) as copy:
        connection.connection.backup(copy)  # consistent while the server keeps writing
    return target


def _restore_database(dump: Path, engine: str) -> None:
    if engine != ("postgresql" if connection.vendor == "postgresql" else "sqlite"):
        raise BackupError(f"This backup holds a {engine} database; the configured database "
                          f"is {connection.vendor}.")
    connection.close()  # the restore replaces what this connection would see
    if engine == "postgresql":
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              str(dump)], dbname_flag=True)
        return
    with sqlite3.connect(dump) as source, sqlite3.connect(
            connection.settings_dict["NAME"]) as target:
        source.backup(target)


def _run(command: list[str], *, dbname_flag: bool = False) -> None:
    """pg_dump / pg_restore against the configured database; the password travels in the
    environment, never on the command line."""
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or "",
           "PGHOST": db.get("HOST") or "", "PGPORT": str(db.get("PORT") or ""),
           "PGUSER": db.get("USER") or ""}
    target = ["--dbname", db["NAME"]] if dbname_flag else [db["NAME"]]
    try:
        done = subprocess.run(  # noqa: S603 - the PostgreSQL client tools, argv list, no shell
            [*command, *target], env=env, capture_output=True, text=True,
            timeout=DUMP_TIMEOUT_SECONDS)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (the PostgreSQL client tools).") \
            from None
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")


# --- media -----------------------------------------------------------------------------------


def _media_tar() -> bytes:
    media = Path(settings.MEDIA_ROOT)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if media.exists():
            tar.add(media, arcname=".")
    return buffer.getvalue()


def _restore_media(data: bytes) -> int:
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        files = [member for member in tar.getmembers() if member.isfile()]
        tar.extractall(media, filter="data")  # no absolute paths, no escaping the root
    return len(files)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
