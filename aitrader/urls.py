"""Top-level URLs: pages, accounts, the API, admin and health probes."""
from django.contrib import admin
from django.urls import include, path

from aitrader import health
from dashboard.signal_views import signal_webhook
from dashboard.views import favicon

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("dashboard.api_urls")),
    # Public (a token and a secret, no session): spends its own rate-limit budget.
    path("hooks/signals/<str:token>/", signal_webhook, name="signal_webhook"),
    path("accounts/", include("dashboard.accounts.urls")),
    path("", include("dashboard.telegram_urls")),  # /settings/telegram/, /telegram/webhook/
    path("", include("dashboard.urls")),
]

handler400 = "dashboard.views.bad_request"
handler403 = "dashboard.views.permission_denied"
handler404 = "dashboard.views.page_not_found"
handler500 = "dashboard.views.server_error"
