from django.apps import AppConfig


class TradingConfig(AppConfig):
    verbose_name = "Trading"
    name = "trading"

    def ready(self) -> None:
        from trading.fields import connect_sqlite_money

        connect_sqlite_money()  # money stays exact on SQLite (see trading.fields)
