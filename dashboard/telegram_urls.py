"""Telegram settings pages (and e-mail/webhook channels) under /settings/telegram/ and the
webhook under /telegram/."""
from django.urls import path

from dashboard import telegram_views as views

app_name = "notifications"

urlpatterns = [
    path("settings/telegram/", views.telegram_settings, name="telegram_settings"),
    path("settings/telegram/code/", views.telegram_link_code, name="telegram_link_code"),
    path("settings/telegram/chats/<int:link_id>/unlink/", views.telegram_unlink,
         name="telegram_unlink"),
    path("settings/telegram/alerts/", views.notification_settings,
         name="notification_settings"),
    path("settings/telegram/channels/", views.channel_add, name="channel_add"),
    path("settings/telegram/channels/<int:channel_id>/", views.channel_update,
         name="channel_update"),
    path("settings/telegram/channels/<int:channel_id>/remove/", views.channel_remove,
         name="channel_remove"),
    path("telegram/webhook/<str:token>/", views.telegram_webhook, name="telegram_webhook"),
]
