"""The fill loop compiled ahead of time: the same results as the JIT and the reference, bit for
bit; loaded only while it matches its sources; loaded without numba."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.core.backtest import aot
from trading.core.backtest.fast import simulate_fast
from trading.core.backtest.fill_loop import simulate_loop
from trading.core.backtest.reference import simulate_reference
from trading.core.backtest.simulation import SimulationSettings
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import COLUMNS, Candles

from .test_backtest_fast import random_candles, simulation_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    """One ahead-of-time build for the module (numba and the C compiler: a few seconds)."""
    directory = tmp_path_factory.mktemp("aot")
    aot.build(directory)
    return directory


@pytest.fixture(scope="module")
def compiled(build_dir):
    kernel = aot.load(build_dir)
    assert kernel is not None
    return kernel


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(candles=random_candles, simulation=simulation_settings, data=st.data())
def test_the_compiled_build_equals_the_jit_and_the_reference(compiled, candles, simulation,
                                                            data):
    signals = np.array(data.draw(st.lists(st.sampled_from([-1, 0, 0, 0, 1]),
                                          min_size=len(candles), max_size=len(candles))),
                       dtype=np.int8)
    ahead = simulate_fast(candles, signals, simulation, kernel=compiled)
    assert ahead.equals(simulate_fast(candles, signals, simulation, kernel=simulate_loop))
    assert ahead.equals(simulate_reference(candles, signals, simulation))


def test_the_build_takes_strided_columns(compiled):
    # Columns viewed with a step (every other value of a doubled array) are not contiguous:
    # the build's 'A' arrays take them as the JIT does.
    candles = random_walk_candles(400, seed=3, volatility=0.02)
    strided = Candles(*(np.repeat(getattr(candles, name), 2)[::2] for name in COLUMNS))
    signals = np.random.default_rng(3).choice([-1, 0, 0, 1], size=400).astype(np.int8)
    simulation = SimulationSettings(cash=1000.0, fee_rate=0.001, slippage=0.0,
                                    stake_fraction=1.0)
    assert not strided.close.flags.c_contiguous

    result = simulate_fast(strided, signals, simulation, kernel=compiled)

    assert result.equals(simulate_reference(candles, signals, simulation))
    assert len(result.trades.pnl) > 0


def test_a_build_from_other_sources_is_not_loaded(build_dir, tmp_path):
    for path in build_dir.iterdir():
        shutil.copy(path, tmp_path / path.name)
    assert aot.load(tmp_path) is not None
    stamp = tmp_path / f"{aot.MODULE}.sha256"

    stamp.write_text("0" * 64 + "\n")  # as if the loop or a rule changed since the build

    assert aot.load(tmp_path) is None


def test_no_build_means_the_jit(tmp_path):
    assert aot.load(tmp_path) is None


def test_the_digest_follows_the_sources(monkeypatch, tmp_path):
    core = tmp_path / "core"
    shutil.copytree(aot.CORE_DIR, core, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    monkeypatch.setattr(aot, "CORE_DIR", core)
    before = aot.source_digest()
    risk = core / "risk.py"

    risk.write_text(risk.read_text() + "\n# a changed rule\n")

    assert aot.source_digest() != before


def test_loading_the_build_does_not_import_numba(build_dir):
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from trading.core.backtest import aot\n"
        f"kernel = aot.load(Path({str(build_dir)!r}))\n"
        "print(kernel is not None, 'numba' in sys.modules)\n")
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=False)

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["True", "False"]
