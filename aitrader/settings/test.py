"""The test suite: embedded default unless DATABASE_URL / REDIS_URL point at services."""
import os

from aitrader.settings.base import *  # noqa: F401,F403
from aitrader.settings.base import DATABASES, PASSWORD_HASHERS
from aitrader.settings.env import env_int

# Argon2 is slow by design; tests hash many passwords.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
DATABASES["default"].setdefault("TEST", {})
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A named file (not :memory:) so live-server and subprocess tests share the database;
    # one per test process so parallel runs never share (or delete) each other's file.
    DATABASES["default"]["TEST"]["NAME"] = f"{DATABASES['default']['NAME']}.test-{os.getpid()}"

# Budgets far above what any test spends, so only tests that mean to hit a limit do; those
# lower them through the `settings` fixture, or the environment for server subprocesses.
for _knob in ("REQUESTS_PER_MINUTE", "BURST", "CONTROL_PER_MINUTE", "EXPORTS_PER_HOUR",
              "KEY_CREATIONS_PER_HOUR", "LOGIN_FAILURES", "UNAUTHENTICATED_PER_MINUTE",
              "ACCOUNT_EMAILS_PER_HOUR"):
    globals()[f"AITRADER_RATE_LIMIT_{_knob}"] = env_int(f"AITRADER_RATE_LIMIT_{_knob}", 100_000,
                                                        minimum=1)
