"""The columnar JSON writer: what it writes is what round() and JSON readers agree on."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from devices.simulators.vector.rows import Rows


@pytest.mark.parametrize("decimals", [0, 1, 2, 3])
def test_numbers_read_back_as_python_rounds_them(decimals):
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(-5000, 5000, 3000), rng.uniform(-1, 1, 1000),
                             [0.0, -0.0, 0.04, -0.04, 9.999, 99999.9996, 1e9, -7.0]])
    rows = Rows(values.size).literal('{"v":').number(values, decimals).literal("}")
    lines = rows.lines()
    assert len(lines) == values.size
    for line, value in zip(lines, values, strict=True):
        assert orjson.loads(line)["v"] == pytest.approx(round(float(value), decimals), abs=1e-9)


def test_rows_hold_choices_booleans_integers_and_literals():
    stamps = ['"2026-01-12T00:00:00.000Z"', '"2026-01-12T00:15:00.000Z"']
    rows = (Rows(3).literal('{"ts":').choice([0, 1, 1], stamps).literal(',"seq":')
            .number(np.array([1, 20, 300])).literal(',"m":{"on":').boolean([True, False, True])
            .literal(',"big":').number([3_000_000.125, 0.5, -2.25], 3).literal("}}"))
    docs = [orjson.loads(line) for line in rows.lines()]
    assert docs == [
        {"ts": "2026-01-12T00:00:00.000Z", "seq": 1, "m": {"on": True, "big": 3_000_000.125}},
        {"ts": "2026-01-12T00:15:00.000Z", "seq": 20, "m": {"on": False, "big": 0.5}},
        {"ts": "2026-01-12T00:15:00.000Z", "seq": 300, "m": {"on": True, "big": -2.25}},
    ]
    assert all(b"\n" not in line for line in rows.lines())


def test_bad_columns_are_refused():
    with pytest.raises(ValueError, match="finite"):
        Rows(2).number([1.0, float("nan")])
    with pytest.raises(ValueError, match="expected 2 values"):
        Rows(2).number([1.0, 2.0, 3.0])
    assert Rows(0).literal("{}").lines() == []
