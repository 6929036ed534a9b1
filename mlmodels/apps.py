from django.apps import AppConfig


class MlmodelsConfig(AppConfig):
    verbose_name = "ML models"
    name = "mlmodels"
