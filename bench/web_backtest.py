"""Web backtest speed: 1,000,000 stored one-minute candles, from the form's POST to the report.

The embedded default as `make run` serves it (SQLite, no Redis, the in-process job pool),
driven by Django's test client in this process: a fresh var directory, migrated; a tenant and
its owner; 1M seeded one-minute candles (about 23 months) in the stored history; the job pool
started. Each run POSTs the Backtests form (SMA 10/20 over the whole stored range), follows
the redirect to the run page, waits for the job, then GETs the run page with its report.
Prints the machine, the load, and per run the total and its parts (the POST, the job, the
report page). Target: < 2 s from click to report.

    python bench/web_backtest.py [--candles 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

TARGET_S = 2.0
START_MS = 1_672_531_200_000  # 2023-01-01T00:00Z
MINUTE = 60_000


def _configure(var_dir: str) -> None:
    """The embedded default in a throwaway var directory (its own SQLite file and stores)."""
    for name in ("DATABASE_URL", "REDIS_URL", "AITRADER_HISTORY_DIR",
                 "AITRADER_TENANT_HISTORY_DIR"):
        os.environ.pop(name, None)
    os.environ.update(DJANGO_SETTINGS_MODULE="aitrader.settings.local", AITRADER_VAR_DIR=var_dir,
                      LOG_LEVEL="ERROR", AITRADER_RATE_LIMIT_ENABLED="0",
                      AITRADER_EMBEDDED_SCHEDULER="0", DEBUG="0")
    import django

    django.setup()


def _seed(candles: int):
    """Migrate, make a tenant and its owner, store the candles; returns the owner."""
    from django.conf import settings
    from django.core.management import call_command

    from tenants.models import User
    from tenants.services import tenant_create
    from trading.core.history import history_write
    from trading.sampledata import generate

    call_command("migrate", verbosity=0)
    owner = User.objects.create_user("bench@example.com", "bench-password-long-enough")
    tenant_create(name="Bench", slug="bench", owner=owner)
    history_write(settings.AITRADER_HISTORY_DIR, "binance", "BTC/USDT", "1m",
                  generate("BTC/USDT", "1m", candles, seed=7, start_ms=START_MS))
    return owner


def _one_run(client) -> dict[str, float]:
    """POST the form, wait for the job, GET the report page; seconds of each part."""
    from trading.models import BacktestRun

    started = time.perf_counter()
    response = client.post("/backtests/new/", {
        "strategy": "sma_cross", "symbol": "BTC/USDT", "timeframe": "1m", "data": "stored",
        "cash": "10000", "fee": "0.1", "param_fast": "10", "param_slow": "20"})
    posted = time.perf_counter()
    if response.status_code != 302:
        raise SystemExit(f"the form was refused ({response.status_code}): "
                         f"{response.content.decode()[:2000]}")
    run_id = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
    finished = (BacktestRun.Status.DONE, BacktestRun.Status.FAILED)
    while BacktestRun.objects.all_tenants(reason="the bench's own run").filter(
            pk=run_id, status__in=finished).count() == 0:
        time.sleep(0.005)
    done = time.perf_counter()
    page = client.get(response["Location"])
    shown = time.perf_counter()
    run = BacktestRun.objects.all_tenants(reason="the bench's own run").get(pk=run_id)
    if run.status != BacktestRun.Status.DONE or 'id="metrics-table"' not in page.content.decode():
        raise SystemExit(f"the run did not finish with a report: {run.error}")
    return {"total": shown - started, "post": posted - started, "job": done - posted,
            "page": shown - done, "candles": run.report["period"]["candles"],
            "trades": run.report["metrics"]["trades"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from _machine import machine_summary

    with tempfile.TemporaryDirectory(prefix="aitrader-bench-web-") as var_dir:
        _configure(var_dir)
        from django.conf import settings
        from django.test import Client

        from aitrader.jobs import start_job_pool, stop_job_pool

        print(f"machine: {machine_summary()}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        seeding = time.perf_counter()
        owner = _seed(args.candles)
        print(f"seeded {args.candles:,} stored 1m candles in {time.perf_counter() - seeding:.1f} s"
              f" (not timed below)")
        start_job_pool(settings.AITRADER_JOB_WORKERS)
        try:
            client = Client()
            client.force_login(owner)
            warm = _one_run(client)  # compiles the fill loop, warms the page cache
            print(f"warm-up run: {warm['total']:.3f} s")
            runs = [_one_run(client) for _ in range(args.repeat)]
        finally:
            stop_job_pool()
        print(f"runs: {len(runs)} x SMA(10/20) over {runs[0]['candles']:,} candles, "
              f"{runs[0]['trades']:,} trades")
        for index, run in enumerate(runs, 1):
            print(f"  run {index}: {run['total']:.3f} s  (POST {run['post'] * 1000:.0f} ms, "
                  f"job {run['job'] * 1000:.0f} ms, report page {run['page'] * 1000:.0f} ms)")
        median = statistics.median(run["total"] for run in runs)
        verdict = "met" if median < TARGET_S else "MISSED"
        print(f"click to report: median {median:.3f} s (target < {TARGET_S:.0f} s: {verdict})")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
