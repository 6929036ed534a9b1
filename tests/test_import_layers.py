"""The import layers `make lint` checks (import-linter, contracts in pyproject.toml) hold for
the code as it is, and a deliberate violation breaks them: each case copies the packages to a
scratch directory, adds one forbidden import and expects lint-imports to fail naming the
contract it broke."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aitrader", "dashboard", "notifications", "mlmodels", "trading", "tenants")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          timeout=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The project's packages and lint configuration, copied to a scratch directory."""
    scratch = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, scratch / package,
                        ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / "pyproject.toml", scratch / "pyproject.toml")
    return scratch


def test_the_code_as_it_is_keeps_every_contract(tree):
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize("module, forbidden, contract", [
    ("trading/services/market.py", "import dashboard.views",
     "Layers: aitrader > dashboard"),
    ("trading/core/risk.py", "import django.conf",
     "The trading core is pure"),
    ("trading/core/strategies/sma_cross.py", "import trading.exchanges.live",
     "Strategies never talk to an exchange"),
    ("tenants/selectors.py", "import trading.models",
     "Layers: aitrader > dashboard"),
])
def test_a_forbidden_import_breaks_its_contract(tree, module, forbidden, contract):
    target = tree / module
    original = target.read_text()
    target.write_text(f"{original}\n{forbidden}  # a deliberate violation\n")
    try:
        result = _lint(tree)
    finally:
        target.write_text(original)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken), result.stdout
