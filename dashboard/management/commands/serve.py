"""python manage.py serve: the ASGI server (HTTP + /ws/live) with the embedded scheduler.

In the embedded default the channel layer lives in this process, so the engine must tick
here too for the live dashboard to see its events; in services mode the scheduler is off
(AITRADER_EMBEDDED_SCHEDULER=0) and Celery runs the ticks. While tasks run in-process
(CELERY_TASK_ALWAYS_EAGER) the job pool runs the long ones (backtests, trainings, close-alls)
beside the server, so a POST answers at once and the page follows the progress on /ws/live.
"""
from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string

from aitrader.jobs import start_job_pool, stop_job_pool
from trading.scheduler import EmbeddedScheduler
from trading.services.backtests import backtest_runs_resume
from trading.services.candle_history import candle_uploads_resume, history_downloads_resume
from trading.services.sweeps import sweeps_resume

# How long a stopping server waits for running jobs (a backtest, a training's subprocess).
JOB_SHUTDOWN_SECONDS = 10.0


class Command(BaseCommand):
    help = "Serve aitrader on HOST:PORT with daphne (and the engine in embedded mode)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options) -> None:
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server

        # The ASGI application the settings name (the composition root above this layer).
        application = import_string(settings.ASGI_APPLICATION)

        scheduler = None
        jobs = None
        if settings.CELERY_TASK_ALWAYS_EAGER:
            jobs = start_job_pool(settings.AITRADER_JOB_WORKERS)
            resumed = backtest_runs_resume()  # jobs live in memory: a restart lost these
            if resumed:
                self.stdout.write(f"{resumed} unfinished backtest(s) queued again")
            resumed = sweeps_resume()
            if resumed:
                self.stdout.write(f"{resumed} unfinished sweep(s) queued again")
            resumed = candle_uploads_resume()
            if resumed:
                self.stdout.write(f"{resumed} unfinished candle upload(s) queued again")
            resumed = history_downloads_resume()
            if resumed:
                self.stdout.write(f"{resumed} unfinished history download(s) queued again")
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
            if jobs is not None:
                stop_job_pool(JOB_SHUTDOWN_SECONDS)
