from django.apps import AppConfig


class TradingConfig(AppConfig):
    verbose_name = "Trading"
    name = "trading"

    def ready(self) -> None:
        from trading.fields import connect_sqlite_money

        connect_sqlite_money()  # money stays exact on SQLite (see trading.fields)

        from tenants.signals import plan_changed
        from trading.services.plan_fit import on_plan_changed

        plan_changed.connect(on_plan_changed, dispatch_uid="trading.plan_fit")
