"""download_ohlcv: pages through history with the real ccxt client (against the stand-in)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from trading.core.candles import load_csv
from trading.sampledata import generate

pytest_plugins = ["tests.fakes.binance"]

START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
HOUR = 3_600_000
KLINES = "/api/v3/klines"


def download(fake, *args: str) -> None:
    call_command("download_ohlcv", "--exchange", "binance", "--symbol", "BTC/USDT",
                 "--timeframe", "1h", "--api-url", fake.url, *args)


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_pages_through_history_into_the_candle_format(fake_binance, tmp_path):
    candles = generate("BTC/USDT", "1h", 2500, seed=8, start_ms=START_MS)
    fake_binance.set_klines("BTC/USDT", "1h", candles.to_rows())
    out = tmp_path / "btc.csv"

    download(fake_binance, "--since", "2024-01-01", "--until", str(START_MS + 2500 * HOUR),
             "--out", str(out))

    assert load_csv(out).to_rows() == candles.to_rows()
    assert fake_binance.request_count(KLINES) == 3  # 1000 + 1000 + 500 per page


def test_it_stops_at_until_and_leaves_out_the_candle_still_forming(fake_binance, tmp_path):
    to_next_hour = HOUR - int(time.time() * 1000) % HOUR
    if to_next_hour < 3000:  # the forming candle must not close while the test runs
        time.sleep(to_next_hour / 1000 + 0.1)
    this_hour = int(time.time() * 1000) // HOUR * HOUR
    first = this_hour - 9 * HOUR
    fake_binance.set_klines("BTC/USDT", "1h",
                            generate("BTC/USDT", "1h", 10, seed=2, start_ms=first).to_rows())

    download(fake_binance, "--since", str(first), "--out", str(tmp_path / "a.csv"))
    download(fake_binance, "--since", str(first), "--until", str(first + 3 * HOUR),
             "--out", str(tmp_path / "b.csv"))

    assert load_csv(tmp_path / "a.csv").timestamp[-1] == this_hour - HOUR
    assert len(load_csv(tmp_path / "a.csv")) == 9
    assert list(load_csv(tmp_path / "b.csv").timestamp) == [first, first + HOUR,
                                                            first + 2 * HOUR]


def test_a_rate_limited_page_is_read_again_after_the_pause(fake_binance, tmp_path):
    fake_binance.set_klines("BTC/USDT", "1h",
                            generate("BTC/USDT", "1h", 5, seed=2, start_ms=START_MS).to_rows())
    fake_binance.rate_limit_next(KLINES, retry_after=0.01)

    download(fake_binance, "--since", "2024-01-01", "--until", "2024-01-01T05:00",
             "--out", str(tmp_path / "c.csv"))

    assert len(load_csv(tmp_path / "c.csv")) == 5
    assert fake_binance.request_count(KLINES) == 2


def test_it_writes_under_var_ohlcv_by_default(fake_binance, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    fake_binance.set_klines("BTC/USDT", "1h",
                            generate("BTC/USDT", "1h", 3, seed=2, start_ms=START_MS).to_rows())

    download(fake_binance, "--since", "2024-01-01", "--until", "2024-01-01T03:00")

    assert len(load_csv(tmp_path / "ohlcv" / "binance-BTC-USDT-1h.csv")) == 3


def test_an_unreachable_exchange_is_a_one_line_error_with_status_2(tmp_path):
    with pytest.raises(CommandError) as caught:
        call_command("download_ohlcv", "--exchange", "binance", "--symbol", "BTC/USDT",
                     "--timeframe", "1h", "--since", "2024-01-01",
                     "--api-url", f"http://127.0.0.1:{closed_port()}", "--retries", "0",
                     "--out", str(tmp_path / "x.csv"))

    assert caught.value.returncode == 2
    assert str(caught.value).startswith("cannot reach binance")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "x.csv").exists()


def test_the_cli_exits_with_status_2_and_one_line_when_offline(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "aitrader.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "download_ohlcv", "--exchange", "binance", "--symbol",
         "BTC/USDT", "--timeframe", "1h", "--since", "2024-01-01", "--retries", "0",
         "--api-url", f"http://127.0.0.1:{closed_port()}", "--out", str(tmp_path / "x.csv")],
        cwd=Path(django_settings.BASE_DIR), env=env, capture_output=True, text=True,
        timeout=60)

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "cannot reach binance" in result.stderr


def test_an_unknown_symbol_is_refused_in_one_line(fake_binance, tmp_path):
    with pytest.raises(CommandError, match="binance refused the download") as caught:
        call_command("download_ohlcv", "--exchange", "binance", "--symbol", "DOGE/USDT",
                     "--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-01-02",
                     "--api-url", fake_binance.url, "--out", str(tmp_path / "x.csv"))

    assert caught.value.returncode == 1 and "\n" not in str(caught.value)


def test_since_after_until_is_refused(fake_binance):
    with pytest.raises(CommandError, match="--since must be earlier"):
        download(fake_binance, "--since", "2024-01-02", "--until", "2024-01-01")

    assert fake_binance.request_count() == 0


def test_an_empty_period_is_reported(fake_binance, tmp_path):
    with pytest.raises(CommandError, match="no BTC/USDT 1h candles"):
        download(fake_binance, "--since", "2024-01-01", "--until", "2024-01-02",
                 "--out", str(tmp_path / "x.csv"))
