"""A stand-in for `python -m mlmodels.trainer` that misbehaves on purpose.

JOB_DIR/fake.json says how: "crash" (an exception), "hang" (sleeps, with a grandchild
process, after one progress line), "oom" (the real trainer's memory cap, then a huge
allocation), "killed" (SIGKILL to itself), "silent" (exits 0 without a result).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlmodels import trainer


def _hang(job_dir: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])  # noqa: S603, S607 - a test stand-in
    (job_dir / "pids.json").write_text(json.dumps([os.getpid(), sleeper.pid]))
    trainer.emit("epoch", epoch=1, epochs=5, train_loss=1.0, validation_loss=1.0, best_epoch=1)
    time.sleep(60)


def _oom(job_dir: Path) -> None:
    trainer.train = lambda _job_dir: bytearray(8 * 1024**3)  # past any cap the test sets
    sys.exit(trainer.main([str(job_dir), "--memory-mb", "1024", "--cpu-seconds", "60"]))


def main() -> None:
    job_dir = Path(sys.argv[1])
    mode = json.loads((job_dir / "fake.json").read_text())["mode"]
    if mode == "crash":
        trainer.emit("start", epochs=5)
        raise ZeroDivisionError("the trainer divided by zero")
    if mode == "hang":
        _hang(job_dir)
    if mode == "oom":
        _oom(job_dir)
    if mode == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "silent":
        sys.exit(0)


if __name__ == "__main__":
    main()
