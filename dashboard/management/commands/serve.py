"""python manage.py serve: the ASGI server (HTTP + /ws/live) with the embedded scheduler.

In the embedded default the channel layer lives in this process, so the engine must tick
here too for the live dashboard to see its events; in services mode the scheduler is off
(AITRADER_EMBEDDED_SCHEDULER=0) and Celery runs the ticks.
"""
from django.conf import settings
from django.core.management.base import BaseCommand

from trading.scheduler import EmbeddedScheduler


class Command(BaseCommand):
    help = "Serve aitrader on HOST:PORT with daphne (and the engine in embedded mode)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        from aitrader.asgi import application

        scheduler = None
        if settings.AITRADER_EMBEDDED_SCHEDULER:
            scheduler = EmbeddedScheduler()
            scheduler.start()
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"aitrader is running at {url} (Ctrl+C stops it)")
        try:
            Server(application=application,
                   endpoints=build_endpoint_description_strings(host=options["host"],
                                                                port=options["port"]),
                   signal_handlers=True).run()
        finally:
            if scheduler is not None:
                scheduler.stop()
