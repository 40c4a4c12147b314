"""Rows of a query as the data frames Grafana's PostgreSQL data source makes of them.

`table` format: one field per column, as they come. `time_series` format
(pkg/tsdb/grafana-postgresql-datasource/sqleng): the time column is required; numeric columns
become floats; a frame with string columns is "long" and is turned wide — one value field per
combination of the string columns' values, those values as labels — and when the query has
exactly three columns (time, `metric`, value), each series is named by its `metric` value, as
Grafana 7 did. Rows missing from a series at some time are nulls, which break its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

FieldType = Literal["time", "number", "string", "other"]


@dataclass(slots=True)
class Field:
    name: str
    values: list[Any]
    type: FieldType
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """The name Grafana shows: the name, with its labels if it has any."""
        if not self.labels:
            return self.name
        labels = ", ".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.name} {{{labels}}}"


@dataclass(slots=True)
class Frame:
    ref_id: str
    fields: list[Field]

    @property
    def length(self) -> int:
        return len(self.fields[0].values) if self.fields else 0

    def time_field(self) -> Field | None:
        return next((f for f in self.fields if f.type == "time"), None)

    def number_fields(self) -> list[Field]:
        return [f for f in self.fields if f.type == "number"]

    def field_named(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


class FrameError(ValueError):
    """Rows Grafana would refuse for the query's format (it shows the same as a panel error)."""


def _type(values: Sequence[Any]) -> FieldType:
    sample = next((v for v in values if v is not None), None)
    if isinstance(sample, datetime):
        return "time"
    if isinstance(sample, bool):
        return "other"
    if isinstance(sample, int | float | Decimal):
        return "number"
    if isinstance(sample, str):
        return "string"
    return "other" if sample is not None else "number"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def table_frame(ref_id: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Frame:
    fields = []
    for index, name in enumerate(columns):
        values = [row[index] for row in rows]
        kind = _type(values)
        if kind == "number":
            values = [v if isinstance(v, int) or v is None else float(v) for v in values]
        fields.append(Field(name, values, kind))
    return Frame(ref_id, fields)


def series_frame(ref_id: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Frame:
    """The rows of a `time_series` query as Grafana's wide frame."""
    frame = table_frame(ref_id, columns, rows)
    time_index = next((i for i, name in enumerate(columns) if name == "time"), None)
    if time_index is None:
        time_index = next((i for i, f in enumerate(frame.fields) if f.type == "time"), None)
    if time_index is None:
        if not rows:
            return Frame(ref_id, [])
        raise FrameError("found no column named time")
    time = frame.fields[time_index]
    time.name, time.type = "Time", "time"
    for f in frame.fields:
        if f is not time and f.type == "number":
            f.values = [_float(v) for v in f.values]
    strings = [f for f in frame.fields if f.type == "string"]
    if not strings:
        return frame
    return _long_to_wide(ref_id, frame, time, strings, rename_metric=len(columns) == 3)


def _long_to_wide(ref_id: str, frame: Frame, time: Field, strings: list[Field],
                  *, rename_metric: bool) -> Frame:
    numbers = [f for f in frame.fields if f.type == "number" and f is not time]
    times: list[datetime] = []
    row_of: dict[datetime, int] = {}
    series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float | None]] = {}
    for i, t in enumerate(time.values):
        if t not in row_of:
            if times and t < times[-1]:
                raise FrameError("long series must be sorted ascending by time to be converted")
            row_of[t] = len(times)
            times.append(t)
        labels = tuple((s.name, "" if s.values[i] is None else str(s.values[i])) for s in strings)
        for number in numbers:
            series.setdefault((number.name, labels), {})[row_of[t]] = number.values[i]
    fields = [Field("Time", times, "time")]
    for (name, labels), points in series.items():
        values = [points.get(r) for r in range(len(times))]
        label_map = dict(labels)
        if rename_metric and list(label_map) == ["metric"]:
            fields.append(Field(label_map["metric"], values, "number"))
        else:
            fields.append(Field(name, values, "number", label_map))
    return Frame(ref_id, fields)


def frame(ref_id: str, fmt: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Frame:
    return series_frame(ref_id, columns, rows) if fmt == "time_series" \
        else table_frame(ref_id, columns, rows)
