"""Live feed: 1,000 /ws/live clients on one daphne process, events from another process.

Seeds a fresh PostgreSQL database (aitrader_bench_ws) with tenants and one `read` key each,
starts one daphne process with the Redis channel layer (REDIS_URL, a Redis database of its
own), connects the clients spread evenly over the tenants (API key header, an Origin the
server allows), then a separate publisher process sends events through
tenants.events.publish_now, as the Celery workers do. Each event carries its tenant and the
time it was published; the clients first sit idle for --idle seconds (longer than the
channel layer's 5 s blocking pop, so a connection that cannot stay idle shows up as missing
deliveries); every client records each event's delivery latency and counts any
event of another tenant. One extra tenant gets events but has no clients: any of its events
arriving anywhere is a cross-tenant delivery too.

Two phases: `steady` (one event per tenant every --interval s) and `burst` (--burst events
per tenant back to back). Prints the machine, the load average, the parameters and per phase:
deliveries expected / received, latency p50 / p99 / max, deliveries per second and
cross-tenant deliveries, plus connect time, the CPU seconds the server and the clients spent
while events flowed, and the server's peak memory. Targets:
1,000 clients, p99 < 250 ms, 0 cross-tenant deliveries.

    python bench/ws.py                              # 1000 clients over 10 tenants
    python bench/ws.py --clients 2000 --tenants 20 --rounds 30 --burst 50
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

DB_NAME = "aitrader_bench_ws"
REDIS_DB = 12
EVENT_TYPE = "bench"
TARGET_CLIENTS, TARGET_P99_MS = 1000, 250.0


# --- Inside Django subprocesses: seeding and publishing -------------------------------------------

def _seed(tenants: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from _seed import tenants_with_keys

    return {"tenants": tenants_with_keys(tenants + 1, ["read"], prefix="ws")}


def _publish(tenant_ids: list[int], rounds: int, interval: float, burst: int) -> dict:
    """Steady rounds (one event per tenant each `interval`), then `burst` events per tenant."""
    import django

    django.setup()
    from tenants.events import publish_now

    def send(phase: str, number: int) -> None:
        for tenant_id in tenant_ids:
            publish_now(tenant_id, EVENT_TYPE, None,
                        {"tenant": tenant_id, "phase": phase, "n": number, "sent": time.time()})

    send("warmup", 0)
    time.sleep(1.0)
    costs = []
    for number in range(rounds):
        began = time.perf_counter()
        send("steady", number)
        costs.append(time.perf_counter() - began)
        time.sleep(max(0.0, interval - costs[-1]))
    time.sleep(1.0)
    began = time.perf_counter()
    for number in range(burst):
        send("burst", number)
    burst_seconds = time.perf_counter() - began
    return {"publish_ms_per_event": round(sum(costs) / max(1, len(costs) * len(tenant_ids))
                                          * 1000, 2),
            "burst_publish_s": round(burst_seconds, 3)}


# --- Clients ------------------------------------------------------------------------------------

class Client:
    """One WebSocket client: latencies per phase, events of another tenant, close codes."""

    def __init__(self, tenant_id: int, key: str) -> None:
        self.tenant_id, self.key = tenant_id, key
        self.latencies: dict[str, list[float]] = {"steady": [], "burst": []}
        # Per phase: the earliest publish time and the latest arrival this client saw.
        self.window: dict[str, list[float]] = {"steady": [], "burst": []}
        self.foreign = 0
        self.error: str | None = None
        self.socket = None

    async def connect(self, port: int) -> None:
        from websockets.asyncio.client import connect

        try:
            self.socket = await connect(
                f"ws://127.0.0.1:{port}/ws/live", origin=f"http://127.0.0.1:{port}",
                additional_headers={"Authorization": f"Bearer {self.key}"},
                open_timeout=120, ping_interval=None, max_queue=None, compression=None)
        except Exception as exc:  # counted and reported, never fatal
            self.error = f"{type(exc).__name__}: {exc}"

    async def listen(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.socket:
                now = time.time()
                event = json.loads(raw)
                if event.get("type") != EVENT_TYPE:
                    continue  # heartbeat pings
                data = event["data"]
                if data["tenant"] != self.tenant_id:
                    self.foreign += 1
                elif data["phase"] in self.latencies:
                    self.latencies[data["phase"]].append(now - data["sent"])
                    window = self.window[data["phase"]]
                    if window:
                        window[0], window[1] = min(window[0], data["sent"]), now
                    else:
                        window += [data["sent"], now]


async def _connect_all(clients: list[Client], port: int, parallel: int) -> float:
    gate = asyncio.Semaphore(parallel)

    async def one(client: Client) -> None:
        async with gate:
            await client.connect(port)

    began = time.perf_counter()
    await asyncio.gather(*(one(c) for c in clients))
    return time.perf_counter() - began


async def _run_clients(clients: list[Client], server, publisher_argv: list[str],
                       env: dict[str, str], parallel: int, idle: float) -> dict:
    connect_seconds = await _connect_all(clients, server.port, parallel)
    listeners = [asyncio.create_task(c.listen()) for c in clients if c.socket is not None]
    # Idle first, longer than the channel layer's 5 s blocking pop: a connection that cannot
    # sit idle (a read timeout in the layer, say) is lost before the first event.
    await asyncio.sleep(idle)
    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    process = await asyncio.create_subprocess_exec(
        *publisher_argv, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"publisher failed:\n{err.decode()[-3000:]}")
    await asyncio.sleep(3.0)  # stragglers
    server_cpu, client_cpu = server.cpu_seconds() - server_cpu, time.process_time() - client_cpu
    for client in clients:
        if client.socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.socket.close(), 5)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    return {"connect_seconds": connect_seconds, "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "publisher": json.loads(out.decode().strip().splitlines()[-1])}


def _phase_row(name: str, clients: list[Client], expected_per_client: int) -> dict:
    from _harness import percentile

    latencies = sorted(x for c in clients for x in c.latencies[name])
    connected = [c for c in clients if c.socket is not None]
    windows = [c.window[name] for c in clients if c.window[name]]
    seconds = (max(w[1] for w in windows) - min(w[0] for w in windows)) if windows else 0.0
    return {"phase": name, "expected": expected_per_client * len(connected),
            "received": len(latencies), "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "max_ms": (latencies[-1] if latencies else 0.0) * 1000,
            "per_s": len(latencies) / seconds if seconds else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=TARGET_CLIENTS)
    parser.add_argument("--tenants", type=int, default=10, help="tenants with clients")
    parser.add_argument("--rounds", type=int, default=20, help="steady rounds")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between rounds")
    parser.add_argument("--burst", type=int, default=20, help="burst events per tenant")
    parser.add_argument("--connect-parallel", type=int, default=50)
    parser.add_argument("--idle", type=float, default=12,
                        help="seconds the connected clients sit idle before the events")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--inner", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner is not None:
        if args.inner[0] == "seed":
            print(json.dumps(_seed(args.tenants)))
        else:
            ids = [int(x) for x in args.inner[1].split(",")]
            print(json.dumps(_publish(ids, args.rounds, args.interval, args.burst)))
        return

    from _harness import (
        daphne,
        drop_database,
        fresh_database,
        load_line,
        redis_cleanup,
        redis_url,
        run_inner,
        scratch_dir,
        services_env,
        table,
    )
    from _machine import machine_summary

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.clients * 2 + 1024  # the clients here, their server ends in daphne
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    channel_layer = redis_url(REDIS_DB)
    print(f"Machine: {machine_summary()}")
    print(f"Load before: {load_line()}")
    print(f"Clients: {args.clients} on one daphne process over {args.tenants} tenants "
          f"(+1 tenant with events and no clients); channel layer {channel_layer}; events from a "
          f"separate publisher process; steady {args.rounds} rounds every {args.interval} s, "
          f"burst {args.burst} per tenant; open files limit "
          f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    database_url = fresh_database(DB_NAME)
    try:
        with scratch_dir() as var_dir:
            env = services_env(database_url, var_dir, REDIS_DB,
                               AITRADER_WS_MAX_PER_USER=str(args.clients * 2),
                               AITRADER_WS_MAX_PER_TENANT=str(args.clients * 2))
            tenants = run_inner(Path(__file__), ["seed", f"--tenants={args.tenants}"],
                                env)["tenants"]
            watched, silent = tenants[:-1], tenants[-1]
            clients = [Client(watched[i % len(watched)]["id"], watched[i % len(watched)]["key"])
                       for i in range(args.clients)]
            ids = ",".join(str(t["id"]) for t in tenants)
            publisher = [sys.executable, str(Path(__file__).resolve()), "--inner", "publish", ids,
                         f"--rounds={args.rounds}", f"--interval={args.interval}",
                         f"--burst={args.burst}"]
            with daphne("aitrader.asgi:application", env) as server:
                outcome = asyncio.run(_run_clients(clients, server, publisher, env,
                                                   args.connect_parallel, args.idle))
                peak_mb, rss_mb = server.peak_rss_mb(), server.rss_mb()
    finally:
        redis_cleanup(REDIS_DB)
        if not args.keep:
            drop_database(DB_NAME)
    failed = [c for c in clients if c.socket is None]
    foreign = sum(c.foreign for c in clients)
    rows = [_phase_row("steady", clients, args.rounds), _phase_row("burst", clients, args.burst)]
    print(f"Connected {args.clients - len(failed)}/{args.clients} clients in "
          f"{outcome['connect_seconds']:.1f} s"
          + (f"; first failure: {failed[0].error}" if failed else ""))
    print(f"Publisher: {outcome['publisher']['publish_ms_per_event']} ms per publish_now; burst "
          f"of {args.burst * len(tenants)} events published in "
          f"{outcome['publisher']['burst_publish_s']} s")
    print(table(["phase", "deliveries expected", "received", "p50 ms", "p99 ms", "max ms",
                 "deliveries/s", "cross-tenant"],
                [[r["phase"], r["expected"], r["received"], f"{r['p50_ms']:.1f}",
                  f"{r['p99_ms']:.1f}", f"{r['max_ms']:.1f}", f"{r['per_s']:,.0f}",
                  foreign if i == 0 else "-"] for i, r in enumerate(rows)]))
    print(f"CPU while events flowed: daphne {outcome['server_cpu']:.1f} s, clients "
          f"{outcome['client_cpu']:.1f} s; daphne RSS {rss_mb:.0f} MB, peak {peak_mb:.0f} MB; "
          f"silent tenant {silent['id']}")
    print(f"Load after: {load_line()}")
    steady = rows[0]
    lost = [f"{r['phase']} {r['expected'] - r['received']} of {r['expected']}" for r in rows
            if r["received"] != r["expected"]]
    on_time = steady["p99_ms"] < TARGET_P99_MS and not lost and not failed
    print(f"Target: {args.clients - len(failed)} clients, steady p99 {steady['p99_ms']:.1f} ms "
          f"(< {TARGET_P99_MS:.0f} ms, all delivered: {'met' if on_time else 'MISSED'}), "
          f"cross-tenant {foreign} ({'met' if foreign == 0 else 'MISSED'})"
          + (f"; deliveries LOST: {', '.join(lost)}" if lost else "")
          + (f"; {len(failed)} clients failed to connect" if failed else ""))


if __name__ == "__main__":
    main()
