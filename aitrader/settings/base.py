"""Settings shared by every environment.

Every value comes from the environment through aitrader.settings.env. With nothing set the
project runs on the embedded default: SQLite under var/, local-memory cache, in-memory
channel layer and tasks executed in-process. DATABASE_URL and REDIS_URL switch to services.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

from aitrader.settings.env import env_bool, env_choice, env_int, env_list, env_str
from tenants.local_secrets import local_secret
from tenants.local_secrets import private_file as _private_file
from tenants.vault_keys import parse_master_keys as _parse_vault_keys
from trading.core.paths import history_dir, var_dir

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# trading.core.paths reads these directories for the settings and for the backtest command
# line, which runs without Django.
VAR_DIR = var_dir()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _parse_stripe_prices(entries: list[str]) -> dict[str, str]:
    """`plan:interval=price_id` entries as {"plan:interval": price_id}; stops start-up on a
    malformed entry, naming it."""
    prices = {}
    for entry in entries:
        key, _, price = entry.partition("=")
        plan, _, interval = key.partition(":")
        if plan not in ("pro", "team", "enterprise") or interval not in ("month", "year") \
                or not price.strip():
            raise ImproperlyConfigured(
                f"AITRADER_STRIPE_PRICES: {entry!r} is not plan:interval=price_id (plans pro, "
                f"team, enterprise; intervals month, year).")
        prices[f"{plan}:{interval}"] = price.strip()
    return prices


def _local_secret(filename: str, nbytes: int = 48) -> str:
    """A random secret kept under var/ so the embedded default survives restarts."""
    return local_secret(VAR_DIR, filename, nbytes)


# --- Core --------------------------------------------------------------------------------
SECRET_KEY = env_str("SECRET_KEY", "") or _local_secret("secret_key")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
ROOT_URLCONF = "aitrader.urls"
WSGI_APPLICATION = "aitrader.wsgi.application"
ASGI_APPLICATION = "aitrader.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

INSTALLED_APPS = [
    "daphne",
    # django.contrib.admin behind the two-step sign-in, 2FA required of staff.
    "dashboard.admin_site.TenantsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "csp",
    "tenants",
    "trading",
    "dashboard",
    "notifications",
    "mlmodels",
]

MIDDLEWARE = [
    # Outermost, so every log line of the request (refusals too) carries its id.
    "dashboard.middleware.RequestIdMiddleware",
    # So even static files and early refusals carry the baseline headers.
    "dashboard.security.SecurityHeadersMiddleware",
    # Before the HTTPS redirect: X-Forwarded-* count only from AITRADER_TRUSTED_PROXIES.
    "dashboard.security.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dashboard.security.SessionTimeoutMiddleware",
    "dashboard.middleware.TenantMiddleware",
    "dashboard.security.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "dashboard.security.AdminScriptPolicyMiddleware",  # inside CSP: it marks admin responses
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "dashboard.context_processors.current_tenant",
            ],
        },
    },
]

# --- Database: SQLite under var/ unless DATABASE_URL points at PostgreSQL -----------------
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    # Seconds a connection is kept for the next request: WSGI workers reuse it. aitrader/asgi.py
    # defaults it to 0, since under ASGI each request runs in a thread of its own and a kept
    # connection is never reused, only left open until PostgreSQL runs out (bench/api.py).
    DATABASES = {"default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # 0600 like the secret files: it holds sessions, sealed secrets and the ledger
            # (SQLite gives its -wal and -shm files the same permissions).
            "NAME": _private_file(VAR_DIR / "db.sqlite3"),
            # WAL lets the in-process scheduler write while pages read. IMMEDIATE takes the write
            # lock when a transaction begins, so a request waits (timeout) for a tick's commit
            # instead of failing with "database is locked" when its read turns into a write.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20,
                        "transaction_mode": "IMMEDIATE"},
        }
    }

# --- Cache, channel layer, Celery broker: Redis when REDIS_URL is set --------------------
REDIS_URL = env_str("REDIS_URL", "")
# A Redis that accepts connections but never answers must cost a request a second, not
# redis-py's default of waiting forever: every client gets short socket timeouts.
REDIS_SOCKET_TIMEOUT_SECONDS = 1.0
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL, "KEY_PREFIX": "aitrader",
                          "OPTIONS": {"socket_connect_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
                                      "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS}}}
    # redis-py 8 gives every socket read a 5 s timeout by default, the same 5 s the layer's
    # blocking pop (BZPOPMIN) waits on an idle channel: the read then fails and tears down a
    # live WebSocket every few idle seconds (django/channels_redis#422). Reads may wait longer.
    # capacity: messages a channel may hold before channels-redis drops new ones unannounced.
    # All of a server process's channels share one Redis list, so the default 100 is the
    # backlog of every tenant feed of that process together: a burst of 550 events to 1,000
    # clients lost a fifth of them (bench/ws.py). Events are small; a backlog is not.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                  "CONFIG": {"hosts": [{"address": REDIS_URL,
                                                        "socket_connect_timeout": 1,
                                                        "socket_timeout": 15}],
                                             "prefix": "aitrader", "capacity": 5000}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "LOCATION": "aitrader"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery: in-process execution in the embedded default --------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
# Short socket timeouts here too: a queued task must not hold a request while Redis is mute.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_timeout": 1,
                                   "socket_connect_timeout": 1}
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_TIMEZONE = "UTC"
# Worker threads of `manage.py serve`'s job pool (aitrader/jobs.py), which runs backtests,
# trainings and close-alls beside the server when tasks run in-process; one slow job then
# holds one of these, never a request.
AITRADER_JOB_WORKERS = env_int("AITRADER_JOB_WORKERS", 2, minimum=1, maximum=16)

# --- Authentication: argon2 first, email login, optional TOTP ------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

# --- Mail: sign-up links, password resets, invitations -------------------------------------
# The embedded default prints mail to the console; production defaults to SMTP, and a system
# check (tenants.E001/E002) stops it when mail would stay local or cross the network in clear.
AITRADER_PRODUCTION = False
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
# STARTTLS on the submission port by default; EMAIL_USE_SSL for implicit TLS (port 465).
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Environment variables EMAIL_USE_TLS and EMAIL_USE_SSL are both "
                               "on; choose one (EMAIL_USE_TLS=false with EMAIL_USE_SSL=true "
                               "for port 465).")
# Seconds to wait for the mail server: a dead one must not hold a request for long.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=120)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "aitrader <no-reply@localhost>")
SERVER_EMAIL = env_str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# --- Sessions and cookies ------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# Absolute lifetime from sign-in and idle timeout, both enforced by
# dashboard.security.SessionTimeoutMiddleware (the cookie age alone slides with every save).
SESSION_COOKIE_AGE = env_int("AITRADER_SESSION_ABSOLUTE_SECONDS", 12 * 3600, minimum=60)
AITRADER_SESSION_ABSOLUTE_SECONDS = SESSION_COOKIE_AGE
AITRADER_SESSION_IDLE_SECONDS = env_int("AITRADER_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)

# --- HTTP security headers -----------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        # Only scripts carrying this response's nonce run: a file injected into static/ or
        # an uploaded one served from our origin still does not.
        "script-src": [NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- Static files --------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env_str("AITRADER_MEDIA_ROOT", str(VAR_DIR / "media")))
# Backups (manage.py backup / restore): encrypted with this Fernet key, kept apart from them.
AITRADER_BACKUP_KEY = env_str("AITRADER_BACKUP_KEY", "")
AITRADER_BACKUP_DIR = Path(env_str("AITRADER_BACKUP_DIR", str(VAR_DIR / "backups")))
AITRADER_BACKUP_KEEP = env_int("AITRADER_BACKUP_KEEP", 14, minimum=1, maximum=3650)

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dashboard.apis.authentication.ApiKeyAuthentication",
        "dashboard.apis.authentication.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["dashboard.apis.permissions.DenyAll"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["dashboard.apis.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "dashboard.apis.filters.ListFilterBackend",
        "dashboard.apis.filters.StrictOrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "dashboard.pagination.TenantPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dashboard.errors.api_exception_handler",
    # Spends each request's budget (read, control, export, key creation) in the shared cache.
    "DEFAULT_THROTTLE_CLASSES": ["dashboard.apis.throttling.ApiRateLimit"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "aitrader API",
    "DESCRIPTION": "Automated crypto trading: bots, orders, trades, backtests.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "dashboard.openapi.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "BotStatusEnum": "trading.models.Bot.Status",
        "OrderStatusEnum": "trading.models.Order.Status",
        "TradeStatusEnum": "trading.models.Trade.Status",
        "BacktestStatusEnum": "trading.models.BacktestRun.Status",
        "ReconcileStatusEnum": "trading.models.ReconcileStatus",
        "ThoughtKindEnum": "trading.models.Thought.Kind",
        "NotificationChannelKindEnum": "notifications.models.NotificationChannel.Kind",
    },
}

# --- Tenancy and API keys -------------------------------------------------------------------
# The seed's semantics: reads need a credential; control needs a `control` key or a trader+.
AITRADER_REQUIRE_API_KEY_FOR_READS = env_bool("AITRADER_REQUIRE_API_KEY_FOR_READS", True)
AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL = env_bool("AITRADER_ALLOW_TENANT_KEYS_FOR_CONTROL",
                                                  False)
# Peppers for API-key HMACs, "version:secret" comma-separated, the first is current. Kept apart
# from SECRET_KEY so rotating SECRET_KEY does not invalidate every key.
AITRADER_API_KEY_PEPPERS = env_list("AITRADER_API_KEY_PEPPERS", []) or [
    f"1:{_local_secret('api_key_pepper')}"
]
AITRADER_API_KEY_DEFAULT_DAYS = env_int("AITRADER_API_KEY_DEFAULT_DAYS", 90, minimum=1,
                                        maximum=365)
AITRADER_API_KEY_MAX_DAYS = 365
# last_used_at is written at most once per this many seconds per key.
AITRADER_API_KEY_TOUCH_SECONDS = env_int("AITRADER_API_KEY_TOUCH_SECONDS", 60, minimum=0)

# Vault master keys that wrap each tenant's data key: "kid:base64-of-32-bytes" comma-separated,
# the first is current (rotate_vault_keys re-wraps the rest under it). Independent of
# SECRET_KEY; the embedded default keeps one generated key under var/. Checked at start-up.
AITRADER_VAULT_KEYS = env_list("AITRADER_VAULT_KEYS", []) or [
    f"local1:{_local_secret('vault_master_key', 32)}"
]
_parse_vault_keys(AITRADER_VAULT_KEYS)

# --- Billing: Stripe Checkout, the Customer Portal and webhooks -----------------------------
# Without a secret key billing is off: plans are set by staff in admin, as before.
AITRADER_STRIPE_SECRET_KEY = env_str("AITRADER_STRIPE_SECRET_KEY", "")
AITRADER_STRIPE_WEBHOOK_SECRET = env_str("AITRADER_STRIPE_WEBHOOK_SECRET", "")
# Where the Stripe client sends requests (a local stand-in in tests).
AITRADER_STRIPE_API_BASE = env_str("AITRADER_STRIPE_API_BASE", "https://api.stripe.com")
# Stripe price ids per plan and interval: "pro:month=price_1,pro:year=price_2,team:month=...".
AITRADER_STRIPE_PRICES = _parse_stripe_prices(env_list("AITRADER_STRIPE_PRICES", []))
# New workspaces get this many days of Pro while billing is on (0: no trial).
AITRADER_TRIAL_DAYS = env_int("AITRADER_TRIAL_DAYS", 14, minimum=0, maximum=90)
# Days a workspace keeps its plan after a failed payment, before it falls back to Free.
AITRADER_BILLING_GRACE_DAYS = env_int("AITRADER_BILLING_GRACE_DAYS", 7, minimum=0, maximum=30)
# Stripe's hosted pages the billing forms redirect to: a form's redirect must be allowed by
# the CSP's form-action, so they join it while billing is on.
AITRADER_STRIPE_REDIRECT_ORIGINS = env_list("AITRADER_STRIPE_REDIRECT_ORIGINS", [
    "https://checkout.stripe.com", "https://billing.stripe.com"])
if AITRADER_STRIPE_SECRET_KEY:
    CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] += AITRADER_STRIPE_REDIRECT_ORIGINS

# How many reverse proxies in front of us append to X-Forwarded-For (0: trust none).
AITRADER_TRUSTED_PROXY_COUNT = env_int("AITRADER_TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=5)
# Peers whose X-Forwarded-Proto/-For/-Host are believed (addresses or networks): by default
# loopback and the private ranges a reverse proxy sits on; from anyone else they are dropped.
AITRADER_TRUSTED_PROXIES = env_list("AITRADER_TRUSTED_PROXIES", [
    "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"])
for _proxy in AITRADER_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"AITRADER_TRUSTED_PROXIES: {_proxy!r} is not an IP address "
                                   f"or network.") from None

# The demo login's password (make run prints it); generated under var/ when unset.
AITRADER_DEMO_PASSWORD = env_str("AITRADER_DEMO_PASSWORD", "")

# --- Rate limits -----------------------------------------------------------------------------
AITRADER_RATE_LIMIT_ENABLED = env_bool("AITRADER_RATE_LIMIT_ENABLED", True)
AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE = env_int("AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE",
                                                  300, minimum=1)
# Reads per API key (or user) and minute, and at most BURST of them in any 10 seconds; a
# tenant gets 4x, an IP 2x. The other budgets below work the same way (tenants/throttle.py).
AITRADER_RATE_LIMIT_BURST = env_int("AITRADER_RATE_LIMIT_BURST", 50, minimum=1)
AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE = env_int("AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE", 30,
                                                 minimum=1)
AITRADER_RATE_LIMIT_EXPORTS_PER_HOUR = env_int("AITRADER_RATE_LIMIT_EXPORTS_PER_HOUR", 30,
                                               minimum=1)
AITRADER_RATE_LIMIT_KEY_CREATIONS_PER_HOUR = env_int(
    "AITRADER_RATE_LIMIT_KEY_CREATIONS_PER_HOUR", 10, minimum=1)
# Failed sign-ins (password, 2FA code, re-entered password) per e-mail + IP in the window.
AITRADER_RATE_LIMIT_LOGIN_FAILURES = env_int("AITRADER_RATE_LIMIT_LOGIN_FAILURES", 5, minimum=1)
AITRADER_RATE_LIMIT_LOGIN_WINDOW_MINUTES = env_int("AITRADER_RATE_LIMIT_LOGIN_WINDOW_MINUTES",
                                                   15, minimum=1)
# 401 answers per IP and minute before the IP is refused outright.
AITRADER_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE = env_int(
    "AITRADER_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE", 60, minimum=1)
# E-mails that account pages send (password resets, sign-up links) per address and hour; an
# IP gets 4x, so nobody can flood a mailbox or use the pages to send mail in bulk.
AITRADER_RATE_LIMIT_ACCOUNT_EMAILS_PER_HOUR = env_int(
    "AITRADER_RATE_LIMIT_ACCOUNT_EMAILS_PER_HOUR", 5, minimum=1)
# Alerts each inbound signal webhook (a bot's TradingView hook) takes per minute; an IP gets
# SIGNAL_IP_FACTOR times that, since TradingView sends every customer's alerts from a few IPs.
AITRADER_RATE_LIMIT_SIGNALS_PER_MINUTE = env_int("AITRADER_RATE_LIMIT_SIGNALS_PER_MINUTE", 30,
                                                 minimum=1)
AITRADER_RATE_LIMIT_SIGNAL_IP_FACTOR = env_int("AITRADER_RATE_LIMIT_SIGNAL_IP_FACTOR", 20,
                                               minimum=1)
RATELIMIT_USE_CACHE = "default"

# --- Trading engine ----------------------------------------------------------------------------
# "replay": candles from files under AITRADER_REPLAY_DIR (the offline demo); "exchange": ccxt.
AITRADER_MARKET_DATA_SOURCE = env_choice("AITRADER_MARKET_DATA_SOURCE", ("replay", "exchange"),
                                         "replay")
AITRADER_REPLAY_DIR = env_str("AITRADER_REPLAY_DIR", str(VAR_DIR / "marketdata"))
# Stored candle history for backtests (Parquet per market and month; trading.core.history):
# `download_ohlcv` and `import_candles` write it, `backtest --stored` reads it.
AITRADER_HISTORY_DIR = str(history_dir())
# Candle CSVs a tenant uploads on the Backtests page: its own store (same layout) under
# <dir>/<tenant id>/, never the shared one. Files up to the inline size import in the request
# (well under a second); larger ones, up to the maximum, are kept and imported by a job.
AITRADER_TENANT_HISTORY_DIR = env_str("AITRADER_TENANT_HISTORY_DIR",
                                      str(VAR_DIR / "tenant-history"))
AITRADER_CANDLE_UPLOAD_MAX_BYTES = env_int("AITRADER_CANDLE_UPLOAD_MAX_BYTES", 200 * 2**20,
                                           minimum=1)
AITRADER_CANDLE_UPLOAD_INLINE_BYTES = env_int("AITRADER_CANDLE_UPLOAD_INLINE_BYTES", 2 * 2**20,
                                              minimum=0)
# Replayed market milliseconds per wall-clock millisecond (30: a 1m candle every 2 s).
AITRADER_REPLAY_SPEED = env_int("AITRADER_REPLAY_SPEED", 30, minimum=1)
# How often a running bot is looked at (seconds); a tick without a new candle is cheap.
AITRADER_ENGINE_TICK_SECONDS = env_int("AITRADER_ENGINE_TICK_SECONDS", 2, minimum=1)
# A tick that comes late (workers down, a deploy) looks back over at most this many of the
# candles that closed since the bot's last tick for a stop, target or exit signal it missed.
AITRADER_ENGINE_CATCH_UP_CANDLES = env_int("AITRADER_ENGINE_CATCH_UP_CANDLES", 60, minimum=1,
                                           maximum=1000)
# An order intent not sent within this many candles after its decision candle closed is
# canceled (a Thought says so), never sent late (trading.services.orders).
AITRADER_ORDER_INTENT_TTL_CANDLES = env_int("AITRADER_ORDER_INTENT_TTL_CANDLES", 1, minimum=1,
                                            maximum=1000)
# Run the scheduler inside the server process (embedded default) instead of Celery beat.
AITRADER_EMBEDDED_SCHEDULER = env_bool("AITRADER_EMBEDDED_SCHEDULER", not REDIS_URL)

# --- Live feed (/ws/live) ---------------------------------------------------------------------
AITRADER_WS_HEARTBEAT_SECONDS = env_int("AITRADER_WS_HEARTBEAT_SECONDS", 25, minimum=1)
AITRADER_WS_MAX_PER_USER = env_int("AITRADER_WS_MAX_PER_USER", 20, minimum=1)
AITRADER_WS_MAX_PER_TENANT = env_int("AITRADER_WS_MAX_PER_TENANT", 500, minimum=1)
# Each open socket re-reads its credential this often (a lost revocation, an expired key or
# session); revocations, removals and sign-outs are announced and close sockets at once.
AITRADER_WS_RECHECK_SECONDS = env_int("AITRADER_WS_RECHECK_SECONDS", 30, minimum=1,
                                      maximum=3600)

# --- ML models: training subprocess limits, inference threads ---------------------------------
# Wall-clock limit of one training run (the subprocess is killed past it); a walk-forward fold
# gets the same limit.
AITRADER_ML_TRAIN_TIMEOUT_SECONDS = env_int("AITRADER_ML_TRAIN_TIMEOUT_SECONDS", 900, minimum=5)
# Address-space cap of the training subprocess; torch alone maps ~650 MB, so at least 1 GB.
AITRADER_ML_TRAIN_MEMORY_MB = env_int("AITRADER_ML_TRAIN_MEMORY_MB", 3072, minimum=1024)
# Threads of training and of inference; fixed so the same seed gives the same model.
AITRADER_ML_TRAIN_THREADS = env_int("AITRADER_ML_TRAIN_THREADS", 1, minimum=1, maximum=64)
AITRADER_ML_INFERENCE_THREADS = env_int("AITRADER_ML_INFERENCE_THREADS", 1, minimum=1,
                                        maximum=64)

# --- Telegram ------------------------------------------------------------------------------------
AITRADER_TELEGRAM_BOT_TOKEN = env_str("AITRADER_TELEGRAM_BOT_TOKEN", "")
AITRADER_TELEGRAM_API_BASE_URL = env_str("AITRADER_TELEGRAM_API_BASE_URL",
                                         "https://api.telegram.org/bot")
AITRADER_TELEGRAM_WEBHOOK_SECRET = env_str("AITRADER_TELEGRAM_WEBHOOK_SECRET", "")
AITRADER_TELEGRAM_SEND_CHECKINS = env_bool("AITRADER_TELEGRAM_SEND_CHECKINS", True)
AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES = env_int(
    "AITRADER_TELEGRAM_CHECKIN_INTERVAL_MINUTES", 30, minimum=1)

# --- Outgoing notification channels: e-mail and signed webhooks ---------------------------------
# Webhooks must be https:// to a public address; this also allows http://127.0.0.1 (local
# development and the test suite's stand-in), never in production.
AITRADER_WEBHOOK_ALLOW_LOOPBACK = env_bool("AITRADER_WEBHOOK_ALLOW_LOOPBACK", DEBUG)

# --- Logging: one line per record to stderr -----------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "aitrader.log_context.LogContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # Production's: one JSON object per line, with the request, tenant and bot ids.
        "json": {"()": "pythonjsonlogger.json.JsonFormatter",
                 "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s "
                        "%(tenant_id)s %(bot_id)s",
                 "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain",
                             "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
