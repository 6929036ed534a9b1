"""`manage.py backtest`: the issue-4 CLI contract, in-process (the management command) and as
a real process (manage.py runs it without starting Django)."""
from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from trading.core.backtest import cli
from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import write_csv
from trading.core.history import history_write

ROOT = Path(__file__).resolve().parents[2]
HEADER = "timestamp,open,high,low,close,volume\n"


@pytest.fixture
def candle_file(tmp_path) -> Path:
    path = tmp_path / "btc.csv"
    write_csv(path, random_walk_candles(1500, seed=12, volatility=0.005))
    return path


@pytest.fixture
def bad_file(tmp_path) -> Path:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "1,1,2,0.5,1.5,10\n2,1,2,0.5,abc,10\n")
    return path


def backtest(*args: str) -> str:
    out = StringIO()
    call_command("backtest", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_json_output_is_one_object_with_the_contract_keys(candle_file):
    output = backtest("--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=20",
                      "--data", str(candle_file), "--cash", "10000", "--fee", "0.002", "--json")
    report = json.loads(output)
    assert report["config"]["params"] == {"fast": 10, "slow": 20}
    assert (report["config"]["cash"], report["config"]["fee"]) == (10000.0, 0.002)
    assert report["metrics"]["trades"] > 0
    assert report["period"]["candles"] == 1500
    assert report["lookahead"]["ok"] is True


def test_flags_reach_the_backtest(candle_file):
    report = json.loads(backtest("--strategy", "sma_cross", "--data", str(candle_file),
                                 "--preset", "balanced", "--stake", "0.3", "--slippage", "0.001",
                                 "--json"))
    assert report["config"]["preset"] == "balanced"
    assert report["config"]["risk"]["stake_fraction"] == 0.3
    assert report["config"]["slippage"] == 0.001


def test_text_output_is_a_readable_table(candle_file):
    output = backtest("--strategy", "rsi_reversion", "--param", "period=7",
                      "--data", str(candle_file))
    assert "Total return" in output and "Max drawdown" in output
    assert "Exit reason" in output and "Month" in output
    assert "Lookahead check: No lookahead" in output


def test_iso_timestamps_and_an_upper_case_header_are_accepted(tmp_path):
    path = tmp_path / "iso.csv"
    rows = [f"2024-01-01T{hour:02d}:00:00Z,{p},{p + 1},{p - 1},{p},1\n"
            for hour, p in enumerate([10, 11, 12, 11, 10, 11, 12, 13, 12, 11])]
    path.write_text(HEADER.upper() + "".join(rows))
    report = json.loads(backtest("--strategy", "sma_cross", "--param", "fast=2",
                                 "--param", "slow=3", "--data", str(path), "--json"))
    assert report["period"]["start"] == "2024-01-01T00:00:00Z"


def test_a_bad_csv_is_a_usage_error_naming_the_row(bad_file):
    with pytest.raises(CommandError) as caught:
        backtest("--strategy", "sma_cross", "--data", str(bad_file))
    assert caught.value.returncode == 2
    assert "row 3" in str(caught.value) and "close" in str(caught.value)


@pytest.mark.parametrize("args, words", [
    (("--strategy", "nope"), "Unknown strategy"),
    (("--strategy", "sma_cross", "--param", "fast=30"), "smaller than slow"),
    (("--strategy", "sma_cross", "--param", "fast"), "name=value"),
    (("--strategy", "sma_cross", "--param", "depth=3"), "Unknown parameter 'depth'"),
    (("--strategy", "sma_cross", "--fee", "0.5"), "fee"),
])
def test_bad_parameters_are_usage_errors(candle_file, args, words):
    with pytest.raises(CommandError) as caught:
        backtest(*args, "--data", str(candle_file))
    assert caught.value.returncode == 2
    assert words in str(caught.value)


def run_manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "backtest", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_process_exits_2_with_one_clean_line_for_a_bad_csv(bad_file):
    finished = run_manage("--strategy", "sma_cross", "--data", str(bad_file), "--json")
    assert finished.returncode == 2
    assert finished.stdout == ""
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and "row 3" in lines[0]
    assert "Traceback" not in finished.stderr


def test_process_exits_2_for_bad_params(candle_file):
    finished = run_manage("--strategy", "sma_cross", "--param", "slow=1", "--data",
                          str(candle_file))
    assert finished.returncode == 2
    assert len(finished.stderr.strip().splitlines()) == 1
    assert "slow" in finished.stderr and "Traceback" not in finished.stderr


def test_process_prints_json_and_exits_0(candle_file):
    finished = run_manage("--strategy", "sma_cross", "--param", "fast=10", "--param", "slow=20",
                          "--data", str(candle_file), "--cash", "10000", "--fee", "0.002",
                          "--json")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["metrics"]["final_equity"] > 0


def test_long_text_runs_draw_a_progress_bar_but_json_runs_do_not(candle_file, monkeypatch):
    monkeypatch.setattr("trading.core.backtest.cli.PROGRESS_FROM_CANDLES", 1000)
    for extra, expect_bar in (((), True), (("--json",), False)):
        errors = StringIO()
        call_command("backtest", "--strategy", "sma_cross", "--data", str(candle_file), *extra,
                     stdout=StringIO(), stderr=errors)
        assert ("100.0 %" in errors.getvalue()) is expect_bar


def test_the_process_runs_without_starting_django(candle_file):
    script = (
        "import atexit, runpy, sys\n"
        "atexit.register(lambda: print('django loaded:', 'django' in sys.modules,"
        " file=sys.stderr))\n"
        f"sys.argv = ['manage.py', 'backtest', '--strategy', 'sma_cross', '--data',"
        f" {str(candle_file)!r}, '--json']\n"
        "runpy.run_path('manage.py', run_name='__main__')\n")
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, check=False)

    assert finished.returncode == 0, finished.stderr
    assert finished.stderr.strip().splitlines()[-1] == "django loaded: False"
    assert json.loads(finished.stdout)["period"]["candles"] == 1500


def test_with_a_django_option_the_process_goes_through_django(candle_file):
    finished = run_manage("--strategy", "sma_cross", "--data", str(candle_file), "--json",
                          "--settings", "aitrader.settings.test")

    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["period"]["candles"] == 1500


def test_bad_flags_print_the_usage_and_exit_2():
    finished = run_manage("--strategy", "sma_cross")

    assert finished.returncode == 2
    assert "one of the arguments --data --stored is required" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_the_command_line_reads_the_history_directory_from_its_environment(tmp_path):
    stored = random_walk_candles(1200, seed=5, volatility=0.005)
    history_write(tmp_path, "binance", "BTC/USDT", "1m", stored)
    out, errors = StringIO(), StringIO()

    code = cli.main(["--strategy", "sma_cross", "--stored", "binance:BTC/USDT:1m", "--json"],
                    stdout=out, stderr=errors, environ={"AITRADER_HISTORY_DIR": str(tmp_path)})

    assert (code, errors.getvalue()) == (0, "")
    assert json.loads(out.getvalue())["period"]["candles"] == 1200
    assert cli.main(["--strategy", "sma_cross", "--stored", "binance:BTC/USDT:1m"],
                    stdout=out, stderr=errors,
                    environ={"AITRADER_HISTORY_DIR": str(tmp_path / "empty")}) == cli.USAGE_ERROR
    assert errors.getvalue().startswith("Error: binance BTC/USDT 1m: nothing stored")
