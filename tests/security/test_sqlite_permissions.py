"""The embedded default's SQLite file is private to its owner, like the secret files."""
from __future__ import annotations

import importlib
import stat


def test_the_database_and_secret_files_are_0600(tmp_path, monkeypatch):
    import aitrader.settings.base as base
    monkeypatch.setenv("AITRADER_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SECRET_KEY", "")
    try:
        reloaded = importlib.reload(base)
        database = reloaded.DATABASES["default"]["NAME"]
        for path in (database, tmp_path / "secret_key"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        (tmp_path / "db.sqlite3").chmod(0o644)  # widened by hand: put back at the next start
        importlib.reload(base)
        assert stat.S_IMODE((tmp_path / "db.sqlite3").stat().st_mode) == 0o600
    finally:
        monkeypatch.undo()
        importlib.reload(base)
