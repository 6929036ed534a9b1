"""Plumbing shared by the HTTP and WebSocket benchmarks (api.py, export.py, ws.py).

A fresh PostgreSQL database per script, seeded by a Django subprocess; servers (gunicorn,
daphne) started in their own process group and stopped by that id; peak memory from
/proc (VmHWM); a fixed-duration HTTP load generator (wrk when installed, else Python threads
with keep-alive connections). Everything listens on and targets 127.0.0.1 only.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"


# --- Databases --------------------------------------------------------------------------------

def fresh_database(name: str) -> str:
    """Drop and create `name`; returns its DATABASE_URL. Raises when PostgreSQL is down."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN, autocommit=True,
                                                         connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_cpu(name: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to database `name`."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]
    return {pid: process_cpu_seconds(pid) for pid in pids}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (0 when it is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return 0.0


def django_env(database_url: str, var_dir: str, **extra: str) -> dict[str, str]:
    """Environment of every Django subprocess of a benchmark (services mode, quiet logs)."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="aitrader.settings.local",
               DATABASE_URL=database_url, AITRADER_VAR_DIR=var_dir, LOG_LEVEL="ERROR",
               AITRADER_RATE_LIMIT_ENABLED="0", AITRADER_EMBEDDED_SCHEDULER="0", DEBUG="0",
               PYTHONPATH=f"{ROOT}{os.pathsep}{BENCH}", PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


# Budgets far above any load a benchmark makes: the counting still happens on every request,
# as in production, but never refuses one.
RAISED_BUDGETS = {name: "1000000000" for name in (
    "AITRADER_RATE_LIMIT_REQUESTS_PER_MINUTE", "AITRADER_RATE_LIMIT_BURST",
    "AITRADER_RATE_LIMIT_CONTROL_PER_MINUTE", "AITRADER_RATE_LIMIT_EXPORTS_PER_HOUR",
    "AITRADER_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE")}


def services_env(database_url: str, var_dir: str, redis_db: int, rate_limits: bool = True,
                 **extra: str) -> dict[str, str]:
    """Services mode as deployed: PostgreSQL, and Redis (database `redis_db`, so runs of
    different benchmarks do not share keys) for cache, rate limits and channel layer. With
    `rate_limits` every request is counted against raised budgets; without, nothing is."""
    env = django_env(database_url, var_dir, REDIS_URL=redis_url(redis_db),
                     AITRADER_RATE_LIMIT_ENABLED="1" if rate_limits else "0", **extra)
    if rate_limits:
        env.update(RAISED_BUDGETS)
    return env


def redis_url(db: int) -> str:
    return f"redis://{HOST}:6379/{db}"


def redis_cleanup(db: int) -> None:
    """Delete the project's keys (prefix `aitrader`) from the benchmark's Redis database."""
    import redis

    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(redis_url(db))
        keys = list(client.scan_iter(match="aitrader*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start:start + 1000])
        client.close()


def run_inner(script: Path, args: list[str], env: dict[str, str], timeout: float = 900) -> dict:
    """Run `script --inner ARGS` (a Django step such as seeding); returns its last JSON line."""
    result = subprocess.run([sys.executable, str(script), "--inner", *args], env=env,
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- Servers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    return found


def _status_kb(pid: int, field: str) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Server:
    """A server subprocess in its own session; `stop()` ends that process group only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()

    def start(self, timeout: float = 60) -> Server:
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=BENCH, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.output()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer /healthz in {timeout:.0f} s:\n"
                           f"{self.output()}")

    def pids(self) -> list[int]:
        """The server process and its descendants (gunicorn's workers)."""
        if self.process is None:
            return []
        pending, found = [self.process.pid], []
        while pending:
            pid = pending.pop()
            found.append(pid)
            pending += _children(pid)
        return found

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: gunicorn's workers, or the server itself."""
        pids = self.pids()
        return pids[1:] or pids

    def peak_rss_mb(self) -> float:
        """Largest peak resident set (VmHWM) among the serving processes, in MB."""
        return max((_status_kb(pid, "VmHWM") for pid in self.worker_pids()), default=0) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time of the serving processes so far."""
        return sum(process_cpu_seconds(pid) for pid in self.worker_pids())

    def rss_mb(self) -> float:
        return max((_status_kb(pid, "VmRSS") for pid in self.worker_pids()), default=0) / 1024

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def gunicorn(app: str, env: dict[str, str], workers: int, worker_class: str,
             threads: int = 1) -> Server:
    port = free_port()
    argv = [str(BIN / "gunicorn"), "--bind", f"{HOST}:{port}", "--workers", str(workers),
            "--worker-class", worker_class, "--threads", str(threads), "--timeout", "120",
            "--log-level", "warning", "--keep-alive", "5", app]
    label = f"gunicorn {worker_class} w={workers}" + (f" t={threads}" if threads > 1 else "")
    return Server(label, argv, env, port)


def daphne(app: str, env: dict[str, str]) -> Server:
    port = free_port()
    argv = [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "-v", "0", app]
    return Server("daphne", argv, env, port)


@contextlib.contextmanager
def scratch_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="aitrader-bench-") as path:
        yield path


# --- HTTP load ----------------------------------------------------------------------------------

def get(port: int, path: str, headers: dict[str, str], timeout: float = 60) -> tuple[int, bytes]:
    """One GET, for checking an endpoint answers what the benchmark expects."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def load(port: int, paths_and_headers: list[tuple[str, dict[str, str]]], connections: int,
         seconds: float) -> dict:
    """Closed-loop load for `seconds`: `connections` keep-alive clients cycling through the
    requests. Returns req/s, p50/p99 latency (ms), requests and failures (non-2xx, errors)."""
    if shutil.which("wrk"):
        return _wrk(port, paths_and_headers, connections, seconds)
    return _python_load(port, paths_and_headers, connections, seconds)


_WRK_SCRIPT = """
local requests = {}
local index = 0
function init(args)
  for line in io.lines(args[1]) do
    local path, key = line:match("^(%S+) (%S+)$")
    requests[#requests + 1] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. key})
  end
end
function request()
  index = index % #requests + 1
  return requests[index]
end
"""


def _wrk(port: int, paths_and_headers, connections: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script, listing = Path(tmp, "rotate.lua"), Path(tmp, "requests.txt")
        script.write_text(_WRK_SCRIPT)
        listing.write_text("".join(
            f"{path} {headers['Authorization'].split(' ', 1)[1]}\n"
            for path, headers in paths_and_headers))
        argv = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds:.0f}s", "--latency",
                "--timeout", "20s", "-s", str(script), f"http://{HOST}:{port}/", "--",
                str(listing)]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                             check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", out)
    failures = int(bad.group(1)) if bad else 0
    if socket_errors:
        failures += sum(int(x) for x in socket_errors.groups())
    return {"tool": "wrk", "requests": requests, "failures": failures,
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": _wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
            "p99_ms": _wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1))}


def _wrk_ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _python_load(port: int, paths_and_headers, connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        mine, conn, index = [], None, offset
        while time.monotonic() < deadline:
            path, headers = paths_and_headers[index % len(paths_and_headers)]
            index += connections
            began = time.perf_counter()
            try:
                conn = conn or http.client.HTTPConnection(HOST, port, timeout=20)
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = 200 <= response.status < 400
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                ok, conn = False, None
            mine.append(time.perf_counter() - began)
            if not ok:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {"tool": "python", "requests": len(latencies), "failures": failures[0],
            "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000}


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"


def table(headers: list[str], rows: list[list], widths: list[int] | None = None) -> str:
    """A plain-text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = widths or [max(len(h), *(len(r[i]) for r in cells)) + 2
                        for i, h in enumerate(headers)]
    lines = []
    for row in [headers, *cells]:
        lines.append("".join(c.ljust(w) if i == 0 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)
