"""Serialiser benchmark: the same 540,000 cabinet-like readings (12 metrics) written as native
payloads three ways, in CPU seconds (what the vectorised simulator's writer was chosen by).

    .venv/bin/python bench/serialise.py

`rows`: devices/simulators/vector/rows.py (numpy, column by column); `polars`:
`DataFrame.write_ndjson` on a struct column, lines split (only if polars is installed: it is
not a dependency); `dicts`: orjson on one dict a reading, as the object simulator does.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import numpy as np
import orjson

from devices.simulators.vector.rows import Rows

N = 540_000
rng = np.random.default_rng(1)
NAMES = [f"m{i}" for i in range(10)]
COLUMNS = {k: np.round(rng.uniform(0, 5000, N), 1) for k in NAMES}
ON = rng.random(N) < 0.5
LEVEL = rng.integers(0, 100, N)
STAMPS = [f"2026-01-14T{h:02d}:{m:02d}:00.000Z" for h in range(24) for m in range(0, 60, 10)]
AT = rng.integers(0, len(STAMPS), N)
SEQ = np.arange(N)


def rows() -> list[bytes]:
    r = Rows(N).literal('{"ts":').choice(AT, [f'"{s}"' for s in STAMPS]).literal(',"seq":')
    r.number(SEQ).literal(',"metrics":{')
    for i, k in enumerate(NAMES):
        r.literal(("," if i else "") + f'"{k}":').number(COLUMNS[k], 1)
    r.literal(',"on":').boolean(ON).literal(',"dim":').number(LEVEL).literal("}}")
    return r.lines()


def polars() -> list[bytes]:
    import polars as pl

    df = pl.DataFrame({"ts": pl.Series(np.array(STAMPS)[AT]).cast(pl.Categorical), "seq": SEQ,
                       **COLUMNS, "on": ON, "dim": LEVEL})
    df = df.select("ts", "seq", pl.struct([*NAMES, "on", "dim"]).alias("metrics"))
    buf = io.BytesIO()
    df.write_ndjson(buf)
    return buf.getvalue().split(b"\n")[:-1]


def dicts() -> list[bytes]:
    lists = [COLUMNS[k].tolist() for k in NAMES]
    ts = [STAMPS[i] for i in AT.tolist()]
    return [orjson.dumps({"ts": a, "seq": b, "metrics": {**dict(zip(NAMES, vals, strict=True)),
                                                          "on": o, "dim": d}})
            for a, b, o, d, *vals in zip(ts, SEQ.tolist(), ON.tolist(), LEVEL.tolist(), *lists,
                                         strict=True)]


def main() -> None:
    writers: list[Callable[[], list[bytes]]] = [rows, polars, dicts]
    for writer in writers:
        try:
            seconds = []
            for _ in range(2):
                began = time.process_time()
                out = writer()
                seconds.append(time.process_time() - began)
        except ImportError:
            print(f"{writer.__name__:>7}: not installed")
            continue
        assert orjson.loads(out[7])["metrics"]["m3"] == COLUMNS["m3"][7] and len(out) == N
        best = min(seconds)
        print(f"{writer.__name__:>7}: {best:.2f} s CPU, {best / N * 1e6:.2f} µs a message, "
              f"{sum(map(len, out)) / N:.0f} bytes a payload")


if __name__ == "__main__":
    main()
