"""Backtest speed: SMA(10/20) over 1,000,000 one-minute candles, full report included.

Prints the machine, then: candles/s end to end (signals, compiled fills, lookahead check,
metrics, tables, trade list, downsampled equity), peak memory, a 100-combination parameter
sweep over 100k candles, the fill loop alone (compiled and reference), and how long the
replay sample files `make run` writes on first start take. Targets: >= 3M candles/s,
< 500 MB, sweep < 10 s.

Then, side by side on one seeded 1-minute CSV: `manage.py backtest --data` and `--stored` as
real processes (wall time, peak RSS), each printing the report's tables (as a user runs it)
and with --json (the whole report), CSV ingest into the stored history, and backtesting.py
0.6.6 end to end (pandas read_csv + Backtest.run of the same SMA cross) in a virtualenv of its
own (var/bench-venv, made here; never the project's). Targets: CLI >= 20x backtesting.py,
ingest >= 2M rows/s, CLI peak RSS < 500 MB.

    python bench/backtest.py [--candles 1000000] [--repeat 3] [--no-compare]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from trading.core.backtest import BacktestConfig, aot, run_backtest, sweep  # noqa: E402
from trading.core.backtest.fast import simulate_fast  # noqa: E402
from trading.core.backtest.reference import simulate_reference  # noqa: E402
from trading.core.backtest.synthetic import random_walk_candles  # noqa: E402
from trading.sampledata import ensure_sample_files  # noqa: E402

SMA = BacktestConfig(strategy="sma_cross", params={"fast": 10, "slow": 20}, cash=10_000,
                     fee=0.001)
SWEEP_GRID = {"fast": list(range(2, 22, 2)), "slow": list(range(25, 75, 5))}  # 10 x 10
TARGET_RATE, TARGET_MB, TARGET_SWEEP_S = 3_000_000, 500, 10.0
TARGET_INGEST_ROWS_S = 2_000_000  # CSV ingest
TARGET_VS_LIBRARY = 20  # end-to-end CLI against backtesting.py
LIBRARY = "backtesting==0.6.6"
LIBRARY_VENV = ROOT / "var" / "bench-venv"
# backtesting.py's run of the SMA cross the CLI runs: fills at the next open, long only, the
# whole equity per trade. Fractional units and no fee, as in the project's backtester: with
# whole units and a fee, equity falls below one unit's price after ~3,000 of the ~28,000
# trades and backtesting.py stops trading, which would flatter its time.
LIBRARY_SCRIPT = """
import json, sys, time
start = time.perf_counter()
import pandas as pd
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover

def sma(values, n):
    return pd.Series(values).rolling(n).mean()

class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(sma, self.data.Close, 10)
        self.slow = self.I(sma, self.data.Close, 20)

    def next(self):
        if crossover(self.fast, self.slow):
            if not self.position:
                self.buy()
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()

imported = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
frame.index = pd.to_datetime(frame.pop("timestamp"), unit="ms")
frame.columns = ["Open", "High", "Low", "Close", "Volume"]
loaded = time.perf_counter()
stats = FractionalBacktest(frame, SmaCross, cash=10_000, commission=0.0,
                           finalize_trades=True).run()
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported,
                  "run_s": time.perf_counter() - loaded, "trades": int(stats["# Trades"])}))
"""


def machine() -> str:
    """CPU model and count, Python, NumPy and numba versions."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), model)
    except OSError:
        pass
    return (f"{model} | {os.cpu_count()} CPUs | Python {platform.python_version()} | "
            f"NumPy {np.__version__} | numba {numba.__version__} | {platform.system()}")


def timed(function, *args, **kwargs) -> tuple[float, object]:
    """(wall seconds, result) of one call."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - start, result


def cpu_timed(function, *args, **kwargs) -> tuple[float, float, object]:
    """(wall seconds, this process's CPU seconds, result): CPU time shows what a busy shared
    machine hides, since other processes steal wall time but not CPU time."""
    cpu = time.process_time()
    wall, result = timed(function, *args, **kwargs)
    return wall, time.process_time() - cpu, result


def verdict(ok: bool) -> str:
    """PASS or FAIL against a target."""
    return "PASS" if ok else "FAIL"


def bench_end_to_end(count: int, repeat: int) -> dict:
    """Best and median seconds of run_backtest over `count` candles, and the report size."""
    candles = random_walk_candles(count, seed=42)
    times, cpu_times, report = [], [], None
    for _ in range(repeat):
        seconds, cpu_seconds, report = cpu_timed(run_backtest, candles, SMA)
        times.append(seconds)
        cpu_times.append(cpu_seconds)
    json_seconds, text = timed(json.dumps, report)
    return {"best": min(times), "median": statistics.median(times), "cpu": min(cpu_times),
            "trades": len(
        report["trades"]), "equity_points": len(report["equity"]), "json_s": json_seconds,
            "json_mb": len(text) / 1e6, "lookahead_ok": report["lookahead"]["ok"]}


def bench_memory(count: int) -> tuple[float, float]:
    """(peak MB allocated during one run per tracemalloc, process max RSS in MB)."""
    candles = random_walk_candles(count, seed=42)
    tracemalloc.start()
    run_backtest(candles, SMA)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_sweep() -> tuple[float, int]:
    """Seconds for the 100-combination sweep over 100k candles, and combinations run."""
    candles = random_walk_candles(100_000, seed=7)
    seconds, rows = timed(sweep, candles, BacktestConfig(strategy="sma_cross",
                                                         lookahead_check=False), SWEEP_GRID)
    return seconds, sum("metrics" in row for row in rows)


def bench_fill_loops(count: int) -> tuple[float, float]:
    """Candles/s of the fill loop alone (signals precomputed): (compiled, plain-Python
    reference); the reference runs on 20k candles, it is the slow specification."""
    resolved = SMA.resolve()
    rates = []
    for simulate, size in ((simulate_fast, count), (simulate_reference, 20_000)):
        candles = random_walk_candles(size, seed=3)
        signals = resolved.strategy.signals(candles, resolved.params)
        seconds, _ = timed(simulate, candles, signals, resolved.simulation())
        rates.append(size / seconds)
    return rates[0], rates[1]


def bench_csv(count: int) -> dict:
    """Seconds to write and read back `count` candles as CSV: the column-wise reader that
    load_csv uses, and the row-by-row reader it falls back to (on 100k rows, scaled)."""
    from trading.core.candles import _load_rows, load_csv, write_csv
    candles = random_walk_candles(count, seed=11)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "candles.csv"
        write_s, _ = timed(write_csv, path, candles)
        read_s, _ = timed(load_csv, path)
        small = Path(directory) / "small.csv"
        write_csv(small, candles[:100_000])
        rows_s, _ = timed(_load_rows, small)
    return {"write": write_s, "read": read_s, "rows_per_s": count / read_s,
            "row_by_row_per_s": 100_000 / rows_s}


def bench_sample_files() -> tuple[float, int]:
    """Seconds to write the replay sample files into an empty directory, and their count."""
    with tempfile.TemporaryDirectory() as directory:
        seconds, paths = timed(ensure_sample_files, directory)
    return seconds, len(paths)


# Starts one measured process and reports its wall time and peak RSS. It runs in a small
# process of its own because a child's peak RSS counts from its parent's size at fork: forked
# from this bench (~500 MB after the in-process runs) every child would look that big.
LAUNCHER = """
import json, os, subprocess, sys, time
with open(sys.argv[1], "w") as out:
    start = time.perf_counter()
    child = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "rss_mb": usage.ru_maxrss / 1024,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def run_child(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB, stdout) of one process, measured by LAUNCHER."""
    with tempfile.NamedTemporaryFile("r") as out:
        launched = subprocess.run([sys.executable, "-c", LAUNCHER, out.name, *command],
                                  cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        figures = json.loads(launched.stdout)
        text = out.read()
    if figures["code"]:
        raise SystemExit(f"{' '.join(command[:4])}... exited with {figures['code']}")
    return figures["wall"], figures["rss_mb"], text


def bench_ingest(path: Path, store: Path) -> dict:
    """CSV into the stored history (read, check, write month files), then the stored range
    read back, in this process."""
    from trading.core.candles import load_csv
    from trading.core.history import history_read, history_write
    # Best of three, each into an empty store (the last one stays for the reads and the CLI).
    ingests = []
    for _ in range(3):
        shutil.rmtree(store, ignore_errors=True)
        ingests.append(timed(lambda: history_write(store, "binance", "BTC/USDT", "1m",
                                                   load_csv(path))))
    seconds, count = min(ingests)
    reads = [timed(history_read, store, "binance", "BTC/USDT", "1m")[0] for _ in range(3)]
    return {"ingest_s": seconds, "rows_per_s": count / seconds, "read_s": min(reads),
            "months": len(list(store.rglob("*.parquet")))}


def bench_cli(path: Path, store: Path, repeat: int) -> dict:
    """Best wall time and peak RSS of `manage.py backtest` over the CSV and over the store, as
    a user runs it (the report's tables) and with --json (the whole report, ~9 MB), and of a
    bare `manage.py backtest --help` (the command line's own start-up)."""
    env = {**os.environ, "AITRADER_HISTORY_DIR": str(store)}
    base = [sys.executable, "manage.py", "backtest"]
    flags = ["--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=20", "--fee", "0"]
    figures = {}
    for name, source in (("csv", ["--data", str(path)]),
                         ("stored", ["--stored", "binance:BTC/USDT:1m"])):
        for output, extra in (("text", []), ("json", ["--json"])):
            runs = [run_child([*base, *flags, *source, *extra], env) for _ in range(repeat)]
            figures[name, output] = {"wall": min(r[0] for r in runs),
                                     "rss": max(r[1] for r in runs), "out": runs[0][2]}
    figures["trades"] = json.loads(figures["csv", "json"]["out"])["metrics"]["trades"]
    figures["startup"] = min(run_child([*base, "--help"], env)[0] for _ in range(repeat))
    return figures


def library_python() -> Path | None:
    """The bench virtualenv's python with backtesting.py installed (made on first use), or
    None, saying why, when pip cannot install it."""
    python = LIBRARY_VENV / "bin" / "python"
    check = [str(python), "-c", "import backtesting; print(backtesting.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True, text=True).stdout.strip() \
            == LIBRARY.split("==")[1]:
        return python
    print(f"installing {LIBRARY} into {LIBRARY_VENV} (its own virtualenv)...", flush=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(LIBRARY_VENV)], capture_output=True,
                          text=True)
    pip = made.returncode == 0 and subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", LIBRARY], capture_output=True,
        text=True)
    if not pip or pip.returncode:
        reason = (pip.stderr if pip else made.stderr).strip().splitlines()[-1:] or ["?"]
        print(f"backtesting.py: SKIPPED, pip could not install {LIBRARY}: {reason[0]}")
        return None
    return python


def bench_library(python: Path, path: Path, repeat: int) -> dict:
    """Best wall time of backtesting.py end to end in its own process, with its own split."""
    runs = [run_child([str(python), "-c", LIBRARY_SCRIPT, str(path)]) for _ in range(repeat)]
    wall, rss, text = min(runs)
    return {"wall": wall, "rss": rss, **json.loads(text)}


def compare(count: int, repeat: int) -> None:
    """The side-by-side figures on one seeded CSV of `count` 1-minute candles."""
    from trading.core.candles import write_csv
    with tempfile.TemporaryDirectory() as directory:
        path, store = Path(directory) / "candles.csv", Path(directory) / "history"
        write_csv(path, random_walk_candles(count, seed=42))
        ingest = bench_ingest(path, store)
        print(f"CSV ingest into the stored history: {count:,} rows in {ingest['ingest_s']:.2f} s "
              f"-> {ingest['rows_per_s'] / 1e6:.2f}M rows/s "
              f"[{verdict(ingest['rows_per_s'] >= TARGET_INGEST_ROWS_S)} >= "
              f"{TARGET_INGEST_ROWS_S / 1e6:.0f}M]; {ingest['months']} month files, read back "
              f"in {ingest['read_s'] * 1000:.0f} ms")
        cli = bench_cli(path, store, repeat)
        loop = "compiled ahead of time" if aot.load() else "numba JIT (no ahead-of-time build)"
        for name, flag in (("stored", "--stored"), ("csv", "--data (CSV)")):
            print(f"manage.py backtest {flag}: {cli[name, 'text']['wall']:.2f} s printing the "
                  f"report's tables, {cli[name, 'json']['wall']:.2f} s with --json (best of "
                  f"{repeat})")
        print(f"  start-up alone (backtest --help) {cli['startup']:.2f} s; fill loop {loop}; "
              f"{cli['trades']:,} trades")
        rss = max(figure["rss"] for key, figure in cli.items() if isinstance(key, tuple))
        print(f"peak RSS of the CLI runs: {rss:.0f} MB "
              f"[{verdict(rss < TARGET_MB)} < {TARGET_MB} MB]")
        python = library_python()
        if python is None:
            return
        lib = bench_library(python, path, repeat)
        print(f"backtesting.py {LIBRARY.split('==')[1]}: {lib['wall']:.2f} s end to end (imports "
              f"{lib['import_s']:.2f} s, pandas read_csv {lib['load_s']:.2f} s, Backtest.run "
              f"{lib['run_s']:.2f} s), peak RSS {lib['rss']:.0f} MB; {lib['trades']:,} trades")
        for name, flag in (("stored", "--stored"), ("csv", "--data")):
            for output, how in (("text", "tables"), ("json", "--json")):
                ratio = lib["wall"] / cli[name, output]["wall"]
                print(f"end to end, CLI {flag} ({how}) against backtesting.py: {ratio:.1f}x "
                      f"[{verdict(ratio >= TARGET_VS_LIBRARY)} >= {TARGET_VS_LIBRARY}x]")


def main() -> None:
    """Run every figure and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-compare", action="store_true",
                        help="Skip the CLI, stored history and backtesting.py comparison.")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    warmup, _ = timed(run_backtest, random_walk_candles(5_000, seed=1), SMA)
    source = "the ahead-of-time build" if aot.load() else "numba compile, or its disk cache"
    print(f"first call (fill loop from {source}): {warmup:.2f} s")

    run = bench_end_to_end(args.candles, args.repeat)
    rate = args.candles / run["best"]
    print(f"SMA(10/20), {args.candles:,} 1m candles, full report: best {run['best']:.3f} s, "
          f"median {run['median']:.3f} s -> {rate / 1e6:.2f}M candles/s "
          f"[{verdict(rate >= TARGET_RATE)} >= {TARGET_RATE / 1e6:.0f}M]")
    print(f"  CPU time of the best run {run['cpu']:.3f} s -> "
          f"{args.candles / run['cpu'] / 1e6:.2f}M candles/s per CPU second; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  {run['trades']:,} trades, {run['equity_points']} equity points, lookahead ok: "
          f"{run['lookahead_ok']}; json.dumps of the report {run['json_s']:.3f} s, "
          f"{run['json_mb']:.1f} MB")

    traced, rss = bench_memory(args.candles)
    print(f"peak memory: {traced:.0f} MB allocated during the run (tracemalloc), process max "
          f"RSS {rss:.0f} MB [{verdict(rss < TARGET_MB)} < {TARGET_MB} MB]")

    seconds, combinations = bench_sweep()
    print(f"sweep: {combinations} combinations x 100,000 candles in {seconds:.2f} s "
          f"({combinations * 100_000 / seconds / 1e6:.1f}M candles/s) "
          f"[{verdict(seconds < TARGET_SWEEP_S)} < {TARGET_SWEEP_S:.0f} s]")

    compiled, reference = bench_fill_loops(args.candles)
    print(f"fill loop alone: compiled {compiled / 1e6:.0f}M candles/s, plain-Python reference "
          f"{reference / 1e3:.0f}k candles/s ({compiled / reference:.0f}x)")

    io = bench_csv(args.candles)
    print(f"CSV: {args.candles:,} candles written in {io['write']:.2f} s, read and validated in "
          f"{io['read']:.2f} s -> {io['rows_per_s'] / 1e6:.2f}M rows/s "
          f"[{verdict(io['rows_per_s'] >= TARGET_INGEST_ROWS_S)} >= "
          f"{TARGET_INGEST_ROWS_S / 1e6:.0f}M]; the row-by-row reader (ISO timestamps, bad "
          f"files) {io['row_by_row_per_s'] / 1e3:.0f}k rows/s")

    seconds, files = bench_sample_files()
    print(f"replay sample files (first `make run`): {files} files written in {seconds:.2f} s")

    if not args.no_compare:
        compare(args.candles, args.repeat)
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

if __name__ == "__main__":
    main()
