"""`GET /devices/{tenant}/{device_id}/readings`: one metric over a time window (contract §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from api.deps import Conn, Reader
from api.models import ReadingsPublic
from api.params import format_instant, parse_bucket, parse_instant, time_window
from api.queries.devices import device_uid
from api.queries.readings import read_points, resume_after
from api.routes.devices import not_found
from devices.catalogue import METRIC_NAME_PATTERN

router = APIRouter(prefix="/devices", tags=["readings"])

MAX_POINTS = 10_000


@router.get("/{tenant}/{device_id}/readings", response_model=ReadingsPublic)
def read_readings(
    conn: Conn,
    principal: Reader,
    request: Request,
    tenant: str,
    device_id: str,
    metric: Annotated[str, Query(pattern=f"^{METRIC_NAME_PATTERN}$", examples=["power_w"])],
    from_: Annotated[str | None, Query(
        alias="from", description="RFC 3339, inclusive; default: 24 hours before `to`")] = None,
    to: Annotated[str | None, Query(description="RFC 3339, exclusive; default: now")] = None,
    bucket: Annotated[str | None, Query(
        description="average per bucket: a number and s, m, h or d (30s, 5m, 1h, 1d)")] = None,
    limit: Annotated[int, Query(
        ge=1, description=f"points per response; at most {MAX_POINTS} (larger values are "
        "served as the maximum)")] = MAX_POINTS,
    tz: Annotated[Literal["UTC", "Europe/Paris"], Query(
        description="time zone of buckets of whole days (1d, 7d…): they start at its midnight; "
        "other buckets are aligned on UTC")] = "UTC",
) -> Response:
    """Values of `metric` in [from, to) by time; `next` is the URL of the rest, if any.

    Buckets of whole hours are served from the rollups where they are complete, from raw
    readings elsewhere (same values either way).
    """
    width = parse_bucket(bucket)
    start, end = time_window(parse_instant("from", from_), parse_instant("to", to),
                             now=datetime.now(UTC))
    # `visible`: a partner's granted devices too (row-level security filters them by kind).
    uid = device_uid(conn, scope=principal.visible, tenant=tenant, device_id=device_id)
    if uid is None:
        raise not_found(tenant, device_id)
    points, more = read_points(conn, device_uid=uid, metric=metric, start=start, end=end,
                               bucket=width, limit=min(limit, MAX_POINTS), tz=tz)
    next_url = None
    if more:
        resume = resume_after(points[-1][0], width, tz)
        next_url = str(request.url.include_query_params(
            **{"from": format_instant(resume), "to": format_instant(end)}
        ))
    # Written here rather than through the response model (same document: instants in UTC
    # with a Z): validating and serializing 720 models was most of a request's time
    # (bench/readings.py).
    body = {"data": [{"ts": ts.astimezone(UTC), "value": value} for ts, value in points],
            "count": len(points), "next": next_url}
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")
