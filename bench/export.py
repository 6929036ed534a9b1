"""CSV export: GET /api/v1/export/trades.csv of 1,000,000 trades, under WSGI and ASGI.

Seeds a fresh PostgreSQL database (aitrader_bench_export) with one tenant holding 1M trades
(some bot names start with = + - @, so formula neutralisation runs), then downloads the
whole export from gunicorn (a sync worker: the sync iterator) and from daphne (the async
iterator), reading the stream as it comes. Prints the machine, the load average, the
parameters and per server: time to the first byte (the header) and to the first row, total
time, rows/s, MB, and the serving process's resident memory before the request and at its
peak (VmHWM, which includes start-up), and the CPU seconds PostgreSQL, the server and the
client spent (other work on the machine stretches wall time, not these). Targets:
>= 200k rows/s, peak < 150 MB for 1M rows.

    python bench/export.py                      # 1M rows, each server once
    python bench/export.py --rows 200000 --repeat 2
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

DB_NAME = "aitrader_bench_export"
REDIS_DB = 14
EXPORT_PATH = "/api/v1/export/trades.csv"
BOTS = 10
TARGET_ROWS_PER_S, TARGET_PEAK_MB = 200_000, 150


def _seed(rows: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from _seed import bots_for, tenants_with_keys, trades_for

    began = time.perf_counter()
    made = tenants_with_keys(1, ["read", "export"])
    bots_for([made[0]["id"]], BOTS)
    inserted = trades_for([made[0]["id"]], rows // BOTS)
    return {"tenant": made[0], "trades": inserted,
            "seconds": round(time.perf_counter() - began, 1)}


def download(port: int, key: str) -> dict:
    """Read the whole export as it streams: first byte (the header), first row, total time,
    bytes and rows (line ends; the fixture has no line break inside a cell)."""
    from _harness import HOST

    conn = http.client.HTTPConnection(HOST, port, timeout=300)
    began = time.perf_counter()
    conn.request("GET", EXPORT_PATH, headers={"Authorization": f"Bearer {key}"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:300]!r}")
    size = lines = 0
    first_byte = first_row = None
    head = b""
    while chunk := response.read1(1 << 20):
        now = time.perf_counter() - began
        first_byte = first_byte if first_byte is not None else now
        size += len(chunk)
        lines += chunk.count(b"\n")
        if first_row is None and lines >= 2:
            first_row = now
        if len(head) < 400:
            head += chunk[:400]
    total = time.perf_counter() - began
    conn.close()
    return {"first_byte_s": first_byte, "first_row_s": first_row or total, "seconds": total,
            "bytes": size, "rows": lines - 1, "head": head.decode(errors="replace")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="downloads per server")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--inner", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        print(json.dumps(_seed(args.rows)))
        return

    from _harness import (
        daphne,
        drop_database,
        fresh_database,
        gunicorn,
        load_line,
        postgres_cpu,
        redis_cleanup,
        redis_url,
        run_inner,
        scratch_dir,
        services_env,
        table,
    )
    from _machine import machine_summary

    print(f"Machine: {machine_summary()}")
    print(f"Load before: {load_line()}")
    print(f"Data: PostgreSQL {DB_NAME}, 1 tenant x {args.rows:,} trades on {BOTS} bots; "
          f"{args.repeat} download(s) per server, read as streamed, 127.0.0.1; cache and "
          f"rate limits (raised budgets) in {redis_url(REDIS_DB)}")
    database_url = fresh_database(DB_NAME)
    results = []
    try:
        with scratch_dir() as var_dir:
            env = services_env(database_url, var_dir, REDIS_DB)
            seeded = run_inner(Path(__file__), ["seed", f"--rows={args.rows}"], env)
            print(f"Seeded {seeded['trades']:,} trades in {seeded['seconds']} s")
            key = seeded["tenant"]["key"]
            servers = [gunicorn("api:wsgi_app()", env, 1, "sync"), daphne("api:asgi_app", env)]
            for server in servers:
                with server:
                    before = server.rss_mb()
                    for _ in range(args.repeat):
                        cpu = (server.cpu_seconds(), postgres_cpu(DB_NAME), time.process_time())
                        got = download(server.port, key)
                        got["server_cpu"] = server.cpu_seconds() - cpu[0]
                        got["postgres_cpu"] = sum(
                            seconds - cpu[1].get(pid, 0.0)
                            for pid, seconds in postgres_cpu(DB_NAME).items())
                        got["client_cpu"] = time.process_time() - cpu[2]
                        if got["rows"] != seeded["trades"]:
                            raise RuntimeError(f"{server.name}: {got['rows']} rows, expected "
                                               f"{seeded['trades']}")
                        results.append({"server": server.name, "rss_before_mb": before,
                                        "peak_mb": server.peak_rss_mb(), **got})
    finally:
        redis_cleanup(REDIS_DB)
        if not args.keep:
            drop_database(DB_NAME)
    for line in results[0]["head"].splitlines()[:2] if results else []:
        print(f"  {line}")
    print(table(["server", "rows", "first byte s", "first row s", "total s", "rows/s", "MB",
                 "RSS before MB", "peak RSS MB"],
                [[r["server"], f"{r['rows']:,}", f"{r['first_byte_s']:.3f}",
                  f"{r['first_row_s']:.3f}", f"{r['seconds']:.2f}",
                  f"{r['rows'] / r['seconds']:,.0f}",
                  f"{r['bytes'] / 1e6:.0f}", f"{r['rss_before_mb']:.0f}",
                  f"{r['peak_mb']:.0f}"] for r in results]))
    print("CPU seconds per download (PostgreSQL backend / server / this client): " + "; ".join(
        f"{r['server']} {r['postgres_cpu']:.1f} / {r['server_cpu']:.1f} / {r['client_cpu']:.1f}"
        for r in results))
    print(f"Load after: {load_line()}")
    for r in results:
        rate, peak = r["rows"] / r["seconds"], r["peak_mb"]
        print(f"Target {r['server']}: {rate:,.0f} rows/s (>= {TARGET_ROWS_PER_S:,}: "
              f"{'met' if rate >= TARGET_ROWS_PER_S else 'MISSED'}), peak {peak:.0f} MB "
              f"(< {TARGET_PEAK_MB} MB: {'met' if peak < TARGET_PEAK_MB else 'MISSED'})")


if __name__ == "__main__":
    main()
