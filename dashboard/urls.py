"""Dashboard pages: overview, bots, backtests, settings."""
from django.urls import path

from dashboard import audit_views, model_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("bots/new/", views.bot_new, name="bot_new"),
    path("bots/<int:bot_id>/", views.bot_detail, name="bot_detail"),
    path("bots/<int:bot_id>/pause/", views.bot_pause, name="bot_pause"),
    path("bots/<int:bot_id>/resume/", views.bot_resume, name="bot_resume"),
    path("bots/<int:bot_id>/close-all/", views.bot_close_all, name="bot_close_all"),
    path("backtests/", views.backtests, name="backtests"),
    path("backtests/<int:run_id>/", views.backtest_detail, name="backtest_detail"),
    path("models/", model_views.models_page, name="models"),
    path("models/<int:model_id>/promote/", model_views.model_promote, name="model_promote"),
    path("models/<int:model_id>/retire/", model_views.model_retire, name="model_retire"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/audit/", audit_views.audit_log, name="audit_log"),
    path("settings/api-keys/", views.api_key_create, name="api_key_create"),
    path("settings/api-keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("settings/exchange-accounts/", views.exchange_account_new, name="exchange_account_new"),
    path("settings/exchange-accounts/live/", views.live_account_new, name="live_account_new"),
    path("settings/exchange-accounts/<int:account_id>/credentials/", views.credentials_save,
         name="credentials_save"),
    path("settings/exchange-accounts/<int:account_id>/credentials/remove/",
         views.credentials_remove, name="credentials_remove"),
]
