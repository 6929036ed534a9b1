"""WSGI entry point: serves HTTP in services mode (daphne keeps /ws/live)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitrader.settings.local")
application = get_wsgi_application()
