"""Production: refuses to start without its services and secrets, HTTPS everywhere."""
from django.core.exceptions import ImproperlyConfigured

from aitrader.settings.env import env_bool, env_choice, env_int, env_list, env_str

# Required before anything else is read, so a missing value fails with its own name.
for _required in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL",
                  "AITRADER_API_KEY_PEPPERS", "AITRADER_VAULT_KEYS"):
    env_str(_required)
if not env_list("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("Environment variable ALLOWED_HOSTS names no host.")
# A malformed pepper would otherwise only fail at the first API request, as a 500.
for _entry in env_list("AITRADER_API_KEY_PEPPERS"):
    _version, _sep, _secret = _entry.partition(":")
    if not _sep or not _version or len(_secret) < 32:
        raise ImproperlyConfigured(
            "Environment variable AITRADER_API_KEY_PEPPERS must list 'version:secret' entries "
            "with secrets of at least 32 characters.")

from aitrader.settings.base import *  # noqa: E402,F401,F403

DEBUG = False
# A webhook to the server's own loopback would let a tenant probe it (SSRF).
AITRADER_WEBHOOK_ALLOW_LOOPBACK = False
# Mail really leaves: SMTP unless EMAIL_BACKEND says otherwise (tenants.checks refuses a
# backend that keeps it local).
AITRADER_PRODUCTION = True
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
# Behind the TLS proxy every request is HTTPS; the probes come over plain HTTP from the
# private network (compose and systemd health checks, a load balancer) and are not redirected.
# AITRADER_SSL_REDIRECT=0 tries production settings locally without a TLS proxy.
SECURE_SSL_REDIRECT = env_bool("AITRADER_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Bots trade on the exchange's own candles; replayed sample data is for the embedded demo
# (a live bot refuses to run on it).
AITRADER_MARKET_DATA_SOURCE = env_choice("AITRADER_MARKET_DATA_SOURCE", ("replay", "exchange"),
                                         "exchange")
# Log lines are JSON objects, one per line, for the log shipper (request, tenant, bot ids).
LOGGING["handlers"]["console"]["formatter"] = "json"  # noqa: F405
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
