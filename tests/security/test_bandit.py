"""bandit finds no high-severity issue in the project's code (what `make bandit` enforces)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

APPS = ["aitrader", "tenants", "trading", "dashboard", "notifications", "mlmodels"]


def test_bandit_reports_no_high_severity_finding():
    bandit = Path(sys.executable).with_name("bandit")
    result = subprocess.run([str(bandit), "-q", "-c", "pyproject.toml", "-r", *APPS, "-f",
                             "json"], cwd=settings.BASE_DIR, capture_output=True, text=True,
                            timeout=300)
    report = json.loads(result.stdout)
    high = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}"
            for r in report["results"] if r["issue_severity"] == "HIGH"]
    assert not high, "\n".join(high)
    assert report["metrics"]["_totals"]["loc"] > 1000, "it scanned the code"
