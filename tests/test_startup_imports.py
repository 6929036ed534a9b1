"""A web server process starts without the heavy libraries.

numba (with LLVM), ccxt (with aiohttp) and torch load on first use, in the code paths that need
them: imported at start-up they cost every gunicorn worker and daphne process ~70 MB before its
first request (bench/README.md). Each has crept back into a module-level import before.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

HEAVY = ("numba", "llvmlite", "ccxt", "aiohttp", "torch")
# What a server process does before its first request: load the application and every URL
# (so every view module), then answer a page and the health check.
STARTUP = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from django.test import Client
from django.urls import get_resolver
get_resolver().url_patterns
client = Client()
statuses = [client.get(path).status_code for path in ("/accounts/login/", "/healthz")]
heavy = sorted(name for name in sys.argv[2:] if name in sys.modules)
print(json.dumps({"statuses": statuses, "heavy": heavy}))
"""


@pytest.mark.parametrize("entry_point", ["aitrader.wsgi", "aitrader.asgi"])
def test_a_server_process_starts_without_heavy_libraries(entry_point, tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aitrader.settings.local",
           "AITRADER_VAR_DIR": str(tmp_path), "AITRADER_EMBEDDED_SCHEDULER": "false"}
    for name in ("DATABASE_URL", "REDIS_URL"):  # the embedded default: no service needed
        env.pop(name, None)
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], env=env,
                             cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    started = subprocess.run([sys.executable, "-c", STARTUP, entry_point, *HEAVY], env=env,
                             cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr
    report = json.loads(started.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200], "the process served its first requests"
    assert report["heavy"] == [], f"imported at start-up: {report['heavy']}"
