"""The test suite: embedded default unless DATABASE_URL / REDIS_URL point at services."""
import os

from aitrader.settings.base import *  # noqa: F401,F403
from aitrader.settings.base import DATABASES, PASSWORD_HASHERS

# Argon2 is slow by design; tests hash many passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A named file (not :memory:) so live-server and subprocess tests share the database;
    # one per test process so parallel runs never share (or delete) each other's file.
    DATABASES["default"]["TEST"]["NAME"] = f"{DATABASES['default']['NAME']}.test-{os.getpid()}"
