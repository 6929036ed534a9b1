"""REST API throughput: GET /api/v1/trades/ against a naive DRF list of the same rows.

Seeds a fresh PostgreSQL database (aitrader_bench_api) with 100 tenants x 10,000 trades, then
serves the project from gunicorn (WSGI workers, which serve HTTP about twice as fast as ASGI here)
and from daphne (ASGI) side by side, and loads two endpoints on each for a fixed time, the
four cases interleaved in slices so that other work on the machine weighs on each alike:

  trades  /api/v1/trades/ as shipped (.values() rows, LimitOffset pages of 50)
  naive   a plain ModelSerializer ListAPIView over the same rows, defined in this file

Requests rotate over every tenant's API key (16 connections by default, wrk when installed,
else Python threads). Prints the machine, the load average, the parameters and
per case req/s, p50/p99 latency, failures, and the CPU milliseconds each request cost the
server and PostgreSQL (other work on the machine stretches latency, not these). Targets:
trades >= 4x the naive baseline under daphne, p99 < 100 ms at 16 connections.

    python bench/api.py                 # 100 x 10k, 15 s per case in 3 slices, 16 connections
    python bench/api.py --seconds 6 --connections 16 32 --rate-limits off --worker-class gthread

This file is also the URLconf and the app of the servers it starts (`api:wsgi_app()`,
`api:asgi_app`): the project's URLs plus the naive endpoint.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

DB_NAME = "aitrader_bench_api"
REDIS_DB = 13
TRADES_PATH = "/api/v1/trades/"
NAIVE_PATH = "/bench/naive-trades/"
TARGET_RATIO, TARGET_P99_MS, TARGET_CONNECTIONS = 4.0, 100.0, 16


# --- Served side: the project's URLs plus the naive baseline ------------------------------------

def _configure() -> None:
    import django
    from django.conf import settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitrader.settings.local")
    django.setup()
    settings.ROOT_URLCONF = "api"  # this module: the project's URLs and the naive endpoint


def wsgi_app():
    """gunicorn 'api:wsgi_app()'."""
    _configure()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


@functools.cache
def _urlpatterns() -> list:
    from django.urls import include, path
    from rest_framework import generics, serializers

    from dashboard.apis.ledger import TradeSerializer
    from dashboard.apis.permissions import TenantScopePermission
    from trading.models import Trade

    class NaiveTradeSerializer(serializers.ModelSerializer):
        class Meta:
            model = Trade
            fields = list(TradeSerializer.Meta.fields)

    class NaiveTradeList(generics.ListAPIView):
        """A first DRF version of the list: model instances through a ModelSerializer, with
        the project's authentication, tenant scope, pagination and default filter backends."""

        serializer_class = NaiveTradeSerializer
        permission_classes = [TenantScopePermission]

        def get_queryset(self):
            return Trade.objects.filter(tenant=self.request.auth.tenant).order_by(
                "-entry_time", "-id")

    return [path(NAIVE_PATH.strip("/") + "/", NaiveTradeList.as_view()),
            path("", include("aitrader.urls"))]


def __getattr__(name: str):
    if name == "urlpatterns":  # read by Django's resolver once the app is set up
        return _urlpatterns()
    if name == "asgi_app":  # daphne api:asgi_app: the project's ASGI router (HTTP + /ws/live)
        from aitrader.asgi import application  # first: it sets up Django the ASGI way

        _configure()
        return application
    raise AttributeError(name)


# --- Seeding (inside a Django subprocess) -------------------------------------------------------

def _seed(tenants: int, trades_per_tenant: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from _seed import bots_for, tenants_with_keys, trades_for

    began = time.perf_counter()
    made = tenants_with_keys(tenants, ["read"])
    bots_per_tenant = 10
    bots_for([t["id"] for t in made], bots_per_tenant)
    rows = trades_for([t["id"] for t in made], trades_per_tenant // bots_per_tenant)
    return {"tenants": made, "trades": rows, "seconds": round(time.perf_counter() - began, 1)}


# --- Driver -------------------------------------------------------------------------------------

def _check(server, path: str, tenant: dict, expected_count: int) -> None:
    from _harness import get

    status, body = get(server.port, path, {"Authorization": f"Bearer {tenant['key']}"})
    if status != 200:
        raise RuntimeError(f"{server.name} {path}: HTTP {status} {body[:300]!r}")
    page = json.loads(body)
    if page["count"] != expected_count or len(page["results"]) != 50:
        raise RuntimeError(f"{server.name} {path}: count {page['count']}, "
                           f"{len(page['results'])} rows on the page")


def _measure(servers: list, endpoints: dict[str, str], made: list[dict], per_tenant: int,
             connections: list[int], seconds: float, rounds: int) -> list[dict]:
    """Every (server, endpoint, connections) case, in `rounds` interleaved slices of
    seconds/rounds each, so load from elsewhere on the machine falls on all cases alike."""
    from _harness import load, postgres_cpu

    cases = []
    for server in servers:
        for name, path in endpoints.items():
            _check(server, path, made[0], per_tenant)
            requests = [(path, {"Authorization": f"Bearer {t['key']}"}) for t in made]
            load(server.port, requests, max(connections), 2)  # warm-up: connections, caches
            cases += [(server, name, requests, count) for count in connections]
    slices: dict[int, list[dict]] = {index: [] for index in range(len(cases))}
    for _ in range(rounds):
        for index, (server, _name, requests, count) in enumerate(cases):
            server_cpu, database_cpu = server.cpu_seconds(), postgres_cpu(DB_NAME)
            result = load(server.port, requests, count, seconds / rounds)
            result["server_cpu"] = server.cpu_seconds() - server_cpu
            result["database_cpu"] = sum(cpu - database_cpu.get(pid, 0.0)
                                         for pid, cpu in postgres_cpu(DB_NAME).items())
            slices[index].append(result)
    return [_summary(server, name, count, slices[index])
            for index, (server, name, _requests, count) in enumerate(cases)]


def _summary(server, endpoint: str, connections: int, slices: list[dict]) -> dict:
    """Medians over the slices (req/s, p50, p99), their req/s range, CPU per request."""
    from statistics import median

    done = max(1, sum(s["requests"] for s in slices))
    return {"server": server.name, "endpoint": endpoint, "connections": connections,
            "rps": median(s["rps"] for s in slices), "rps_min": min(s["rps"] for s in slices),
            "rps_max": max(s["rps"] for s in slices),
            "p50_ms": median(s["p50_ms"] for s in slices),
            "p99_ms": median(s["p99_ms"] for s in slices), "requests": done,
            "failures": sum(s["failures"] for s in slices), "tool": slices[0]["tool"],
            "server_ms": sum(s["server_cpu"] for s in slices) / done * 1000,
            "database_ms": sum(s["database_cpu"] for s in slices) / done * 1000,
            "rss_mb": server.rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--trades-per-tenant", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15, help="load time per case")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved slices each case's time is split into")
    parser.add_argument("--connections", type=int, nargs="+", default=[TARGET_CONNECTIONS])
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--rate-limits", choices=["on", "off"], default="on",
                        help="count every request against (raised) budgets in Redis, as "
                             "deployed (default on)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--inner", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        print(json.dumps(_seed(args.tenants, args.trades_per_tenant)))
        return

    from _harness import (
        daphne,
        drop_database,
        fresh_database,
        gunicorn,
        load_line,
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
    print(f"Data: PostgreSQL {DB_NAME}, {args.tenants} tenants x {args.trades_per_tenant:,} "
          f"trades; pages of 50; requests rotate over the {args.tenants} tenants' keys")
    print(f"Load: {args.seconds:.0f} s per case in {args.rounds} interleaved slices after a 2 s "
          f"warm-up, connections {' '.join(map(str, args.connections))}, 127.0.0.1; req/s, "
          f"p50 and p99 are medians over the slices")
    print(f"Services: cache and rate limits in {redis_url(REDIS_DB)}, rate limits "
          f"{args.rate_limits}; gunicorn {args.worker_class} x {args.workers}, daphne x 1")
    database_url = fresh_database(DB_NAME)
    rows: list[dict] = []
    try:
        with scratch_dir() as var_dir:
            env = services_env(database_url, var_dir, REDIS_DB, args.rate_limits == "on")
            seeded = run_inner(Path(__file__), ["seed", f"--tenants={args.tenants}",
                                                f"--trades-per-tenant={args.trades_per_tenant}"],
                               env)
            print(f"Seeded {seeded['trades']:,} trades in {seeded['seconds']} s")
            endpoints = {"trades": TRADES_PATH, "naive": NAIVE_PATH}
            servers = [gunicorn("api:wsgi_app()", env, args.workers, args.worker_class,
                                args.threads),
                       daphne("api:asgi_app", env)]
            with servers[0], servers[1]:
                rows = _measure(servers, endpoints, seeded["tenants"], args.trades_per_tenant,
                                args.connections, args.seconds, args.rounds)
    finally:
        redis_cleanup(REDIS_DB)
        if not args.keep:
            drop_database(DB_NAME)
    print(table(["server", "endpoint", "conns", "req/s", "range", "p50 ms", "p99 ms",
                 "requests", "failures", "CPU ms/req server", "CPU ms/req db", "worker RSS MB"],
                [[r["server"], r["endpoint"], r["connections"], f"{r['rps']:.0f}",
                  f"{r['rps_min']:.0f}-{r['rps_max']:.0f}", f"{r['p50_ms']:.1f}",
                  f"{r['p99_ms']:.1f}", r["requests"], r["failures"],
                  f"{r['server_ms']:.2f}",
                  f"{r['database_ms']:.2f}" if r["database_ms"] else "-", f"{r['rss_mb']:.0f}"]
                 for r in rows]))
    print("(db CPU is read from the server's PostgreSQL backends; under ASGI each request has "
          "its own connection, whose backend is gone before it can be read: '-')")
    print(f"Load after: {load_line()}; load generator: {rows[0]['tool'] if rows else '-'}")
    _verdict(rows, servers[0].name)


def _verdict(rows: list[dict], wsgi_name: str) -> None:
    def pick(server: str, endpoint: str) -> dict | None:
        return next((r for r in rows if r["server"] == server and r["endpoint"] == endpoint
                     and r["connections"] == TARGET_CONNECTIONS), None)

    shipped, baseline = pick(wsgi_name, "trades"), pick("daphne", "naive")
    if not shipped or not baseline:
        print(f"(targets are judged at {TARGET_CONNECTIONS} connections)")
        return
    ratio = shipped["rps"] / baseline["rps"]
    print(f"Target: trades under {wsgi_name} / naive under daphne = {ratio:.1f}x "
          f"(>= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'}); "
          f"p99 {shipped['p99_ms']:.1f} ms (< {TARGET_P99_MS:.0f} ms: "
          f"{'met' if shipped['p99_ms'] < TARGET_P99_MS else 'MISSED'})")
    for server in (wsgi_name, "daphne"):
        fast, slow = pick(server, "trades"), pick(server, "naive")
        if fast and slow:
            print(f"Same server, {server}: trades / naive = {fast['rps'] / slow['rps']:.1f}x")


if __name__ == "__main__":
    main()
