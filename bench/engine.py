"""Engine throughput: bot ticks per second with N paper bots sharing replayed candles.

Runs each case in a fresh database (SQLite file, and PostgreSQL when it answers on
127.0.0.1:5432), ticking every bot once per candle through the real tick path in batches
(`run_ticks`, what the `tick_bots` task runs), and prints ticks/s, tick latency p50/p99 and
queries per tick. A tick's latency is its batch's time divided by the batch's size, and its
queries are the batch's queries shared the same way.

    python bench/engine.py                    # 1, 100, 1000, 10000 bots on both databases
    python bench/engine.py --bots 1000 --backend postgres --candles 3 --batch 100
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/aitrader_bench"


def _tick_slice(market, bot_ids: list[int], tenant_id: int, candles: int, batch: int,
                queue) -> None:
    """One worker: tick its bots once per candle, `batch` at a time; reports per-tick
    latencies and query counts (each batch's figures shared by its ticks)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from trading.engine import run_ticks
    from trading.exchanges.factory import set_market_source

    set_market_source("binance", market)
    latencies, queries = [], []
    for _ in range(candles):
        market.step()
        for start in range(0, len(bot_ids), batch):
            chunk = bot_ids[start:start + batch]
            connection.queries_log.clear()  # the log keeps 9,000 queries: past that, 0
            began = time.perf_counter()
            with CaptureQueriesContext(connection) as captured:
                run_ticks(tenant_id=tenant_id, bot_ids=chunk)
            latencies += [(time.perf_counter() - began) / len(chunk)] * len(chunk)
            queries += [len(captured.captured_queries) / len(chunk)] * len(chunk)
    queue.put((latencies, queries))


def _run_case(bots: int, candles: int, workers: int, batch: int) -> dict:
    """Inside a configured process: build the bots, tick them in `workers` processes (as
    Celery workers would), return the figures."""
    import multiprocessing

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    from bench_setup import build_bots  # noqa: E402  (bench/ on sys.path)

    market, bot_ids, tenant_id = build_bots(bots)
    connections.close_all()  # each forked worker opens its own connection
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    slices = [bot_ids[i::workers] for i in range(workers)]
    started = time.perf_counter()
    processes = [context.Process(target=_tick_slice,
                                 args=(market, part, tenant_id, candles, batch, queue))
                 for part in slices if part]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    latencies = sorted(x for result in results for x in result[0])
    queries = [q for result in results for q in result[1]]
    return {"bots": bots, "workers": len(processes), "ticks": len(latencies),
            "seconds": round(elapsed, 2), "ticks_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "queries_per_tick": round(sum(queries) / len(queries), 2)}


def _fresh_postgres() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN.replace("postgres://", "postgresql://"),
                             autocommit=True, connect_timeout=2) as conn:
            conn.execute("DROP DATABASE IF EXISTS aitrader_bench WITH (FORCE)")
            conn.execute("CREATE DATABASE aitrader_bench")
        return True
    except Exception as exc:  # no server: the PostgreSQL rows are skipped, and say so
        print(f"PostgreSQL not available ({type(exc).__name__}); skipping it.")
        return False


def _case_in_subprocess(backend: str, bots: int, candles: int, workers: int,
                        batch: int) -> dict | None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="aitrader.settings.local",
               AITRADER_RATE_LIMIT_ENABLED="0", LOG_LEVEL="ERROR",
               PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'bench'}")
    env.pop("REDIS_URL", None)
    with tempfile.TemporaryDirectory() as var_dir:
        env["AITRADER_VAR_DIR"] = var_dir
        if backend == "postgres":
            if not _fresh_postgres():
                return None
            env["DATABASE_URL"] = PG_BENCH
        else:
            env.pop("DATABASE_URL", None)
        result = subprocess.run(
            [sys.executable, __file__, "--inner", "--bots", str(bots), "--candles", str(candles),
             "--workers", str(workers), "--batch", str(batch)],
            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(result.stderr[-2000:])
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, nargs="*", default=[1, 100, 1000, 10000])
    parser.add_argument("--candles", type=int, default=0,
                        help="Candles per case (default: enough for ~2,000 ticks, at least 2).")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--workers", type=int, default=2,
                        help="Processes ticking in parallel, like Celery workers (default 2; "
                             "SQLite always uses 1: it has one writer).")
    parser.add_argument("--batch", type=int, default=200,
                        help="Bots per run_ticks call, like one tick_bots task (default 200).")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        print(json.dumps(_run_case(args.bots[0], args.candles, args.workers, args.batch)))
        return
    from _machine import machine_summary

    print(f"Machine: {machine_summary()}")
    print(f"Batches of up to {args.batch} bots; per-tick latency = batch time / batch size.")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    print(f"{'backend':<10}{'bots':>7}{'workers':>8}{'ticks':>8}{'ticks/s':>10}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'queries/tick':>14}")
    for backend in backends:
        for bots in args.bots:
            candles = args.candles or max(2, 2000 // bots)
            workers = 1 if backend == "sqlite" else args.workers
            row = _case_in_subprocess(backend, bots, candles, workers, args.batch)
            if row:
                print(f"{backend:<10}{row['bots']:>7}{row['workers']:>8}{row['ticks']:>8}"
                      f"{row['ticks_per_s']:>10}{row['p50_ms']:>9}{row['p99_ms']:>9}"
                      f"{row['queries_per_tick']:>14}")


if __name__ == "__main__":
    main()
