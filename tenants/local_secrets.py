"""Secrets the embedded default keeps under its var/ directory, with no Django imports.

Settings call these at start-up (the secret key, the API-key pepper, the vault's master key
when none is configured) and the demo seeding calls them for the demo login's password, so a
restarted `make run` keeps its keys and its login. The files are readable by their owner only.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def private_file(path: Path) -> Path:
    """`path`, created (if missing) and kept readable and writable by its owner only."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # never world-readable, even briefly
    path.chmod(0o600)
    return path


def local_secret(directory: Path, filename: str, nbytes: int = 48) -> str:
    """The random secret kept in `directory/filename`, made on first use."""
    path = directory / filename
    if not path.exists() or not path.read_text().strip():
        private_file(path).write_text(secrets.token_urlsafe(nbytes))
    private_file(path)
    return path.read_text().strip()
