from django.apps import AppConfig


class MlmodelsConfig(AppConfig):
    verbose_name = "ML models"
    name = "mlmodels"

    def ready(self) -> None:
        # ml_signal stays ORM-free: it reaches a tenant's models only through this resolver.
        from mlmodels.resolver import check, resolve
        from trading.core.strategies.ml_signal import set_model_resolver

        set_model_resolver(resolve, check)
