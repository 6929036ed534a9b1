"""Dashboard pages: overview, bots, backtests, settings."""
from django.urls import path

from dashboard import audit_views, billing_views, bot_lifecycle_views, mlmodel_views, views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("bots/new/", views.bot_new, name="bot_new"),
    path("bots/<int:bot_id>/", views.bot_detail, name="bot_detail"),
    path("bots/<int:bot_id>/pause/", views.bot_pause, name="bot_pause"),
    path("bots/<int:bot_id>/resume/", views.bot_resume, name="bot_resume"),
    path("bots/<int:bot_id>/close-all/", views.bot_close_all, name="bot_close_all"),
    path("bots/<int:bot_id>/edit/", bot_lifecycle_views.bot_edit, name="bot_edit"),
    path("bots/<int:bot_id>/duplicate/", bot_lifecycle_views.bot_duplicate,
         name="bot_duplicate"),
    path("bots/<int:bot_id>/stop/", bot_lifecycle_views.bot_stop, name="bot_stop"),
    path("bots/<int:bot_id>/archive/", bot_lifecycle_views.bot_archive, name="bot_archive"),
    path("bots/<int:bot_id>/unarchive/", bot_lifecycle_views.bot_unarchive,
         name="bot_unarchive"),
    path("bots/<int:bot_id>/delete/", bot_lifecycle_views.bot_delete, name="bot_delete"),
    path("bots/<int:bot_id>/manual/", bot_lifecycle_views.bot_manual, name="bot_manual"),
    path("backtests/", views.backtests, name="backtests"),
    path("backtests/<int:run_id>/", views.backtest_detail, name="backtest_detail"),
    path("models/", mlmodel_views.models_page, name="models"),
    path("models/<int:model_id>/promote/", mlmodel_views.model_promote, name="model_promote"),
    path("models/<int:model_id>/retire/", mlmodel_views.model_retire, name="model_retire"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/billing/checkout/", billing_views.billing_checkout, name="billing_checkout"),
    path("settings/billing/portal/", billing_views.billing_portal, name="billing_portal"),
    path("billing/stripe/webhook/", billing_views.stripe_webhook, name="stripe_webhook"),
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
