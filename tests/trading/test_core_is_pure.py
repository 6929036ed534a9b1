"""trading.core stays plain Python: no Django, no ORM, no exchange client, no torch.

The core (strategies, risk, decisions, candles, the backtester...) runs the same in a backtest,
a live tick and a test only while it imports nothing but the standard library, NumPy, numba,
pyarrow and itself. Two checks: every import statement in its source, lazy ones included, and
what importing every core module really loads in a fresh interpreter (which also catches a
dependency that is pure itself but whose package drags Django in).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

CORE = Path(settings.BASE_DIR) / "trading" / "core"
THIRD_PARTY_ALLOWED = {"numpy", "numba", "pyarrow", "orjson"}
# Top-level packages a core module must never load, directly or through another module.
FORBIDDEN_ROOTS = {"django", "ccxt", "aiohttp", "torch", "celery", "redis", "aitrader",
                   "tenants", "dashboard", "notifications", "mlmodels"}


def core_modules() -> dict[str, Path]:
    """Dotted name -> source file of every module under trading/core."""
    modules = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """Every module an import statement in `path` names, wherever it stands in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module)
    return names


def allowed(name: str) -> bool:
    root = name.partition(".")[0]
    return (name == "trading.core" or name.startswith("trading.core.")
            or root in THIRD_PARTY_ALLOWED or root in sys.stdlib_module_names)


def test_it_finds_the_core_modules():
    modules = core_modules()
    assert {"trading.core.risk", "trading.core.decisions", "trading.core.candles",
            "trading.core.strategies", "trading.core.backtest.fast"} <= set(modules)


def test_no_core_module_names_an_import_outside_the_core_and_its_libraries():
    outside = {
        module: sorted(name for name in imported_names(module, path) if not allowed(name))
        for module, path in core_modules().items()
    }
    assert {module: names for module, names in outside.items() if names} == {}


LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_the_whole_core_loads_no_django_exchange_or_torch():
    env_free = {"PYTHONPATH": str(settings.BASE_DIR), "PATH": "/usr/bin:/bin"}
    loaded = subprocess.run([sys.executable, "-c", LOADED, *core_modules()], env=env_free,
                            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    modules = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert [m for m in modules if m.partition(".")[0] in FORBIDDEN_ROOTS] == []
    project = [m for m in modules if m.startswith("trading.")]
    assert [m for m in project if not m.startswith("trading.core")] == []
