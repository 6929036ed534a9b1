"""The fill loop compiled ahead of time, so that a backtest process never loads numba.

With numba's JIT a fresh process spends ~0.5 s before its first candle (importing numba and
LLVM, then loading the loop from numba's cache): longer than the backtest of a million candles.
`python -m trading.core.backtest.aot`, which `make run` and `make test` run first, compiles
(unless the build is current) the same `fill_loop.simulate_loop` with numba's ahead-of-time
compiler into an extension module beside this file, and writes next to it a digest of what
it was compiled from. `load` imports that module only while the digest matches: after an edit
to the loop or to the risk and fill rules it calls, or another NumPy or Python, it answers
None and the JIT runs (correct, only slower to start) until the next build.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

MODULE = "_fill_loop_aot"
FUNCTION = "simulate_loop"
BUILD_DIR = Path(__file__).resolve().parent
CORE_DIR = BUILD_DIR.parent
# What the compiled code is made of: the loop, what it calls, the constants and this file
# (the signature).
SOURCES = ("backtest/fill_loop.py", "backtest/fills.py", "backtest/simulation.py", "risk.py",
           "backtest/aot.py")
# The types fast.simulate_fast passes: four price columns, days, signals, then the settings
# (cash .. daily loss limit) and the cooldown and trade capacity; 'A' arrays take any layout.
SIGNATURE = (
    "Tuple((float64[:], float64[:, :], int64, int64))"
    "(float64[:], float64[:], float64[:], float64[:], int64[:], int8[:],"
    " float64, float64, float64, float64, int64, float64, float64, float64, float64,"
    " int64, int64)")


def source_digest() -> str:
    """A digest of the sources the loop is compiled from and of the NumPy and Python the
    compiled module is built against."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((CORE_DIR / name).read_bytes())
    digest.update(f"numpy {np.__version__}; python {sys.version}".encode())
    return digest.hexdigest()


def _stamp(directory: Path) -> Path:
    return directory / f"{MODULE}.sha256"


def _extension(directory: Path) -> Path:
    return directory / f"{MODULE}{importlib.machinery.EXTENSION_SUFFIXES[0]}"


def build(directory: Path = BUILD_DIR) -> Path:
    """Compile the loop into `directory` and stamp it with the sources' digest; returns the
    extension module's path. Needs numba and a C compiler; raises what they raise."""
    with warnings.catch_warnings():
        # numba marks pycc "pending deprecation" with no replacement yet; if a release drops
        # it, the build fails here and the JIT runs, as without a compiler.
        warnings.simplefilter("ignore")
        from numba.pycc import CC

    from trading.core.backtest.fill_loop import simulate_loop

    _stamp(directory).unlink(missing_ok=True)  # a failed build leaves no current stamp
    compiler = CC(MODULE)
    compiler.output_dir = str(directory)
    compiler.export(FUNCTION, SIGNATURE)(simulate_loop.py_func)
    compiler.compile()
    _stamp(directory).write_text(source_digest() + "\n")
    return _extension(directory)


def load(directory: Path = BUILD_DIR) -> Callable | None:
    """The compiled loop from `directory`, or None when it was not built or was built from
    other sources than these."""
    try:
        if _stamp(directory).read_text().strip() != source_digest():
            return None
    except OSError:
        return None
    spec = importlib.util.spec_from_file_location(MODULE, _extension(directory))
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (ImportError, OSError):
        return None
    return getattr(module, FUNCTION)


def main() -> int:
    """Build beside this file unless the build there is current; without a compiler, say
    that the JIT will run instead."""
    if load() is not None:
        return 0
    print("==> Compiling the backtest fill loop ahead of time", flush=True)
    try:
        path = build()
    except Exception as exc:  # any failure leaves the JIT, which is correct
        print(f"The fill loop was not compiled ahead of time ({type(exc).__name__}: {exc}); "
              "backtests compile it on first use instead.", file=sys.stderr)
        return 0
    print(f"Compiled the fill loop ahead of time: {path.relative_to(CORE_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
