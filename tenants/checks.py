"""System checks for tenancy and account settings."""
from django.conf import settings
from django.core.checks import Error, Warning, register

# Backends that never hand mail to a server: fine on a laptop, silent loss in production.
LOCAL_MAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


@register()
def check_read_credentials(app_configs, **kwargs):
    """Reads always need a credential: there is no default tenant to read anonymously."""
    if settings.AITRADER_REQUIRE_API_KEY_FOR_READS:
        return []
    return [Warning(
        "AITRADER_REQUIRE_API_KEY_FOR_READS=False has no effect: aitrader has no default "
        "tenant, so every read still needs an API key or a signed-in session.",
        id="tenants.W001",
    )]


@register()
def check_production_mail(app_configs, **kwargs):
    """In production, sign-up links, password resets and invitations must really be sent,
    and not in clear over the network: `manage.py migrate` and `check` fail otherwise."""
    if not settings.AITRADER_PRODUCTION:
        return []
    if settings.EMAIL_BACKEND in LOCAL_MAIL_BACKENDS:
        return [Error(
            f"EMAIL_BACKEND={settings.EMAIL_BACKEND} keeps mail on this machine: sign-up links, "
            "password resets and invitations would never arrive.",
            hint="Unset EMAIL_BACKEND (SMTP) and set EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER "
                 "and EMAIL_HOST_PASSWORD.",
            id="tenants.E001")]
    insecure = not (settings.EMAIL_USE_TLS or settings.EMAIL_USE_SSL)
    if (settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") and insecure
            and settings.EMAIL_HOST not in LOOPBACK_HOSTS):
        return [Error(
            f"Mail to {settings.EMAIL_HOST} would travel without TLS, links and password "
            "resets readable on the way.",
            hint="Set EMAIL_USE_TLS=true (STARTTLS, port 587) or EMAIL_USE_SSL=true (port 465).",
            id="tenants.E002")]
    return []
