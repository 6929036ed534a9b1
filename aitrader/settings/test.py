"""The test suite: embedded default unless DATABASE_URL / REDIS_URL point at services."""
from aitrader.settings.base import *  # noqa: F401,F403
from aitrader.settings.base import DATABASES, PASSWORD_HASHERS

# Argon2 is slow by design; tests hash many passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A named file (not :memory:) so live-server and subprocess tests share the database.
    DATABASES["default"]["TEST"]["NAME"] = str(DATABASES["default"]["NAME"]) + ".test"
