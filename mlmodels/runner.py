"""The parent side of training: launch the trainer subprocess, stream its progress, bound it.

The worker that calls `run_trainer` never runs torch training itself. It starts
`python -m mlmodels.trainer` in its own session with a minimal environment (no database URL,
no secrets), reads progress lines as they come, and kills the whole process group when the
wall-clock limit passes. Every way the child can end becomes either a result or a
TrainingFailed whose message says why, so a run is always finished or failed, never hanging.
"""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlmodels.trainer import EXIT_OUT_OF_MEMORY

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TRAINER_MODULE = "mlmodels.trainer"
STDERR_TAIL = 400  # characters of the child's stderr kept in a failure reason
KILL_GRACE_SECONDS = 5

ProgressCallback = Callable[[dict[str, Any]], None]


class TrainingFailed(Exception):
    """Training did not produce a model; `reason` is safe to show the tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TrainingLimits:
    """What one training subprocess may use: wall-clock seconds, address space, threads."""

    timeout_seconds: float = 900.0
    memory_mb: int = 2048
    threads: int = 1

    def cpu_seconds(self) -> int:
        # A backstop should the parent die: CPU time at full use of every thread, plus slack.
        return int(self.timeout_seconds * self.threads) + 30


def child_environment(threads: int) -> dict[str, str]:
    """Only what Python and the BLAS libraries need; nothing of the worker's secrets."""
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME")
            if name in os.environ}
    return {**keep, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1"}


def run_trainer(job_dir: Path, limits: TrainingLimits, on_progress: ProgressCallback | None = None,
                *, module: str | None = None) -> dict[str, Any]:
    """Run the trainer on `job_dir` and return its result.json; TrainingFailed otherwise.

    `on_progress(event)` is called for every progress line (start, epoch, done). `module`
    replaces the trainer (tests run stand-ins that crash, hang or exhaust memory).
    """
    command = [sys.executable, "-m", module or TRAINER_MODULE, str(job_dir),
               "--memory-mb", str(limits.memory_mb), "--cpu-seconds", str(limits.cpu_seconds())]
    stderr_path = job_dir / "trainer.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(  # noqa: S603 - our own module, argv list, no shell
            command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT, env=child_environment(limits.threads), start_new_session=True)
    try:
        finished = _follow(process, time.monotonic() + limits.timeout_seconds, on_progress)
    finally:
        _stop(process)
    if not finished:
        raise TrainingFailed(f"Training ran past its {limits.timeout_seconds:g} s time limit "
                             f"and was stopped.")
    if process.returncode != 0:
        raise TrainingFailed(crash_reason(process.returncode, _tail(stderr_path), limits))
    return _result(job_dir)


def _follow(process: subprocess.Popen, deadline: float,
            on_progress: ProgressCallback | None) -> bool:
    """Forward progress lines until the child closes stdout (True) or the deadline (False)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    pending = b""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not selector.select(timeout=min(remaining, 1.0)):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                return _wait(process, deadline)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _forward(line, on_progress)
    finally:
        selector.close()


def _wait(process: subprocess.Popen, deadline: float) -> bool:
    """stdout closed: the child is exiting; give it until the deadline to do so."""
    try:
        process.wait(timeout=max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired:
        return False
    return True


def _forward(line: bytes, on_progress: ProgressCallback | None) -> None:
    try:
        event = json.loads(line)
    except ValueError:
        return  # stray output (a library's print) is not progress
    if on_progress is not None and isinstance(event, dict):
        on_progress(event)


def _stop(process: subprocess.Popen) -> None:
    """Make sure the child and anything it started are gone, and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def crash_reason(returncode: int, stderr_tail: str, limits: TrainingLimits) -> str:
    """A sentence saying how the trainer died, with the end of what it said."""
    if returncode == EXIT_OUT_OF_MEMORY:
        return f"Training ran out of memory (limit {limits.memory_mb} MB)."
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = ""
        if name in ("SIGKILL", "SIGSEGV", "SIGABRT"):
            hint = f"; possibly out of memory (limit {limits.memory_mb} MB)"
        if name == "SIGXCPU":
            hint = "; it used up its CPU time limit"
        return f"The training process was killed by {name}{hint}." + _quoted(stderr_tail)
    return f"The training process crashed (exit code {returncode})." + _quoted(stderr_tail)


def _quoted(tail: str) -> str:
    return f" Last output: {tail}" if tail else ""


def _tail(path: Path) -> str:
    """The last non-empty line of the child's stderr (the exception, for a traceback)."""
    try:
        text = path.read_bytes()[-8192:].decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-STDERR_TAIL:] if lines else ""


def _result(job_dir: Path) -> dict[str, Any]:
    try:
        result = json.loads((job_dir / "result.json").read_text())
    except (OSError, ValueError):
        raise TrainingFailed("The training process exited without writing its result.") from None
    if not (job_dir / "weights.pt").exists():
        raise TrainingFailed("The training process exited without saving weights.")
    return result
