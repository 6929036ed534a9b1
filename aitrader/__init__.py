"""aitrader: hosted multi-tenant automated crypto trading."""
from aitrader.celery import app as celery_app

__all__ = ("celery_app",)
