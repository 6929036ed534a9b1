"""Where the project keeps its files, read from the environment.

The settings take their directories from here, and so does the backtest command line, which
runs without starting Django: both name the same directories for the same environment.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env_path(environ: Mapping[str, str], name: str, default: Path) -> Path:
    value = (environ.get(name) or "").strip()
    return Path(value) if value else default


def var_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """AITRADER_VAR_DIR, else var/ in the checkout: files the product writes at run time."""
    return _env_path(environ, "AITRADER_VAR_DIR", ROOT / "var")


def history_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """AITRADER_HISTORY_DIR, else history/ under the var directory: the stored candles."""
    return _env_path(environ, "AITRADER_HISTORY_DIR", var_dir(environ) / "history")
