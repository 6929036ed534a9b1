"""Candle files: the column-wise reader and the row-by-row one agree, on good and bad files."""
from __future__ import annotations

import numpy as np
import pytest

from trading.core.backtest.synthetic import random_walk_candles
from trading.core.candles import COLUMNS, CandleFileError, _load_rows, load_csv, write_csv

HEADER = ",".join(COLUMNS)


def _file(tmp_path, *rows: str, header: str = HEADER):
    path = tmp_path / "candles.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_a_written_file_reads_back_exactly_by_both_readers(tmp_path):
    candles = random_walk_candles(5000, seed=5, volatility=0.01)
    path = tmp_path / "c.csv"
    write_csv(path, candles)
    assert path.read_text().splitlines()[0] == HEADER
    for loaded in (load_csv(path), _load_rows(path)):
        for name in COLUMNS:
            assert np.array_equal(getattr(loaded, name), getattr(candles, name)), name
        assert loaded.timestamp.dtype == np.int64


def test_iso_timestamps_and_blank_lines_still_load(tmp_path):
    path = _file(tmp_path, "2024-01-01T00:00:00Z,1,2,0.5,1.5,10", "",
                 "2024-01-01T00:01:00,1.5,2,1,1.2,3", header="Timestamp,Open,High,Low,Close,Volume")
    loaded = load_csv(path)
    assert loaded.timestamp.tolist() == [1704067200000, 1704067260000]
    assert loaded.close.tolist() == [1.5, 1.2]


@pytest.mark.parametrize("rows, message", [
    (["1000,1,2,0.5,1.5,10", "2000,1,2,0.5,-1,10"], "row 3: close '-1'"),
    (["1000,1,2,0.5,1.5,10", "2000,1,1.2,0.5,1.5,10"], "row 3: high/low"),
    (["2000,1,2,0.5,1.5,10", "1000,1,2,0.5,1.5,10"], "row 3: timestamps must increase"),
    (["1000,1,2,0.5,1.5,10", "2000,1,2,0.5,abc,10"], "row 3: close 'abc' is not a number"),
    (["1000,1,2,0.5,1.5"], "row 2: expected 6 columns"),
    (["1000,1,2,0.5,nan,10"], "row 2: close 'nan' must be a finite number"),
])
def test_a_bad_row_is_named(tmp_path, rows, message):
    with pytest.raises(CandleFileError, match=message):
        load_csv(_file(tmp_path, *rows))


def test_a_wrong_header_or_an_empty_file_is_refused(tmp_path):
    with pytest.raises(CandleFileError, match="row 1: header"):
        load_csv(_file(tmp_path, "1000,1,2,0.5,1.5,10", header="ts,o,h,l,c,v"))
    with pytest.raises(CandleFileError, match="holds no candles"):
        load_csv(_file(tmp_path))
