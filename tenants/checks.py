"""System checks for tenancy settings."""
from django.conf import settings
from django.core.checks import Warning, register


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
