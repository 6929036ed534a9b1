"""The directories the settings and the Django-free backtest command line share."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trading.core.paths import ROOT, history_dir, var_dir


def test_defaults_are_under_the_checkout():
    assert var_dir({}) == ROOT / "var"
    assert history_dir({}) == ROOT / "var" / "history"


def test_the_history_follows_the_var_directory_unless_named():
    assert history_dir({"AITRADER_VAR_DIR": "/srv/at"}) == Path("/srv/at/history")
    assert history_dir({"AITRADER_VAR_DIR": "/srv/at", "AITRADER_HISTORY_DIR": " /data/h "}) \
        == Path("/data/h")
    assert history_dir({"AITRADER_HISTORY_DIR": ""}) == ROOT / "var" / "history"


def test_the_settings_read_the_same_directories(tmp_path):
    # In a process of its own: the suite's fixtures point the setting at a temporary store.
    script = ("import django; django.setup(); from django.conf import settings; "
              "print(settings.AITRADER_HISTORY_DIR)")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aitrader.settings.test",
           "AITRADER_VAR_DIR": str(tmp_path)}
    env.pop("AITRADER_HISTORY_DIR", None)
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    assert finished.returncode == 0, finished.stderr
    assert Path(finished.stdout.strip()) == tmp_path / "history" == history_dir(env)
