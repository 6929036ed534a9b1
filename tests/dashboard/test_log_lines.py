"""Log lines say which request, tenant and bot they are about, and production writes them as
JSON objects, one per line."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from django.conf import settings

from tests.dashboard.conftest import paper_bot, tick
from trading.engine import run as engine_run
from trading.engine import run_tick


class _Recorder(logging.Handler):
    """Keeps the records that reach it, after the project's filters ran."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _recording(logger_name: str) -> _Recorder:
    from aitrader.log_context import LogContextFilter

    recorder = _Recorder()
    recorder.addFilter(LogContextFilter())
    logging.getLogger(logger_name).addHandler(recorder)
    return recorder


def test_a_request_gets_an_id_and_its_log_lines_carry_it_and_the_tenant(world):
    recorder = _recording("django.request")
    try:
        client = world.client_with_key(world.read_key_a)
        response = client.get("/api/v1/bots/999999/", HTTP_X_REQUEST_ID="proxy-id-1234")
    finally:
        logging.getLogger("django.request").removeHandler(recorder)
    assert response.status_code == 404
    assert response["X-Request-ID"] == "proxy-id-1234"
    record = recorder.records[-1]  # "Not Found: /api/v1/bots/999999/"
    assert (record.request_id, record.tenant_id) == ("proxy-id-1234", world.tenant_a.pk)


def test_an_unsafe_request_id_is_replaced(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith a newline")
    assert response["X-Request-ID"] != "bad id\nwith a newline"
    assert len(response["X-Request-ID"]) == 32


def test_a_ticks_log_lines_carry_the_tenant_and_the_bot(world, market, monkeypatch):
    bot = paper_bot(world.tenant_a)
    tick(bot, market)

    real = engine_run._guarded_tick

    def spy(bot, batch):
        logging.getLogger("trading.engine").warning("ticking")
        return real(bot, batch)

    monkeypatch.setattr(engine_run, "_guarded_tick", spy)
    recorder = _recording("trading.engine")
    try:
        run_tick(tenant_id=world.tenant_a.pk, bot_id=bot.pk)
    finally:
        logging.getLogger("trading.engine").removeHandler(recorder)
    seen = [(r.tenant_id, r.bot_id) for r in recorder.records if r.getMessage() == "ticking"]
    assert seen == [(world.tenant_a.pk, bot.pk)]


def test_production_writes_json_lines_with_the_ids(tmp_path):
    code = ("import django, logging; django.setup(); "
            "from aitrader.log_context import log_context; "
            "logging.getLogger('aitrader.x').warning('hello'); "
            "ctx = log_context(request_id='r-1234567', tenant_id=7, bot_id=9); ctx.__enter__(); "
            "logging.getLogger('aitrader.x').warning('inside')")
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "aitrader.settings.production",
           "AITRADER_VAR_DIR": str(tmp_path), "SECRET_KEY": "k" * 50,
           "ALLOWED_HOSTS": "trade.example.com",
           "DATABASE_URL": "postgres://aitrader:pw@db.internal:5432/aitrader",
           "REDIS_URL": "redis://redis.internal:6379/0",
           "AITRADER_API_KEY_PEPPERS": "2:" + "k" * 40, "AITRADER_VAULT_KEYS": "p1:" + "a" * 43}
    done = subprocess.run([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.strip().splitlines()]
    assert [line["message"] for line in lines] == ["hello", "inside"]
    assert (lines[0]["request_id"], lines[0]["tenant_id"], lines[0]["bot_id"]) == (None,) * 3
    assert lines[1] | {"time": None} == {"time": None, "level": "WARNING", "logger": "aitrader.x",
                                          "message": "inside", "request_id": "r-1234567",
                                          "tenant_id": 7, "bot_id": 9}
