from django.apps import AppConfig


class TradingConfig(AppConfig):
    verbose_name = "Trading"
    name = "trading"
