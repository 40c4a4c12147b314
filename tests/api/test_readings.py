"""`GET /devices/{tenant}/{device_id}/readings` (contract §3, §5), readings stored with SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.queries.readings import bucket_floor
from phare.settings import Settings
from tests.api.conftest import auth, insert_readings
from tests.conftest import register_device

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def z(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


@pytest.fixture
def device(conn: psycopg.Connection, tenant: str) -> tuple[str, int]:
    """A lighting cabinet of the test's tenant: its readings URL and its uid."""
    uid = register_device(conn, tenant, "armoire-1")
    return f"/api/v1/devices/{tenant}/armoire-1/readings", uid


def test_raw_points_in_order_within_the_window(client: TestClient, conn: psycopg.Connection,
                                               device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    # Inserted out of order; another metric alongside must not leak into the answer.
    insert_readings(conn, uid, "power_w", [(at(20), 3.0), (at(0), 1.0), (at(10), 2.5)])
    insert_readings(conn, uid, "energy_kwh", [(at(5), 1000.0)])
    r = client.get(url, params={"metric": "power_w", "from": z(at(0)), "to": z(at(60))},
                   headers=auth(admin_key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(parse(p["ts"]), p["value"]) for p in body["data"]] == [
        (at(0), 1.0), (at(10), 2.5), (at(20), 3.0)]
    assert body["count"] == 3
    assert body["next"] is None


def test_from_is_inclusive_and_to_exclusive(client: TestClient, conn: psycopg.Connection,
                                            device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [(at(m), float(m)) for m in (0, 10, 20, 30)])
    r = client.get(url, params={"metric": "power_w", "from": z(at(10)), "to": z(at(30))},
                   headers=auth(admin_key))
    assert [p["value"] for p in r.json()["data"]] == [10.0, 20.0]


def test_offsets_other_than_utc_are_understood(client: TestClient, conn: psycopg.Connection,
                                               device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [(at(0), 1.0), (at(60), 2.0)])
    # 11:00+01:00 is 10:00Z; the '+' is written unencoded, as people type it in a browser.
    r = client.get(f"{url}?metric=power_w&from=2026-03-02T11:00:00+01:00"
                   "&to=2026-03-02T11:30:00+01:00", headers=auth(admin_key))
    assert r.status_code == 200, r.text
    assert [p["value"] for p in r.json()["data"]] == [1.0]


def test_default_window_is_the_last_24_hours(client: TestClient, conn: psycopg.Connection,
                                             device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    now = datetime.now(UTC)
    insert_readings(conn, uid, "power_w", [(now - timedelta(hours=25), 1.0),
                                           (now - timedelta(hours=23), 2.0),
                                           (now - timedelta(minutes=5), 3.0)])
    r = client.get(url, params={"metric": "power_w"}, headers=auth(admin_key))
    assert [p["value"] for p in r.json()["data"]] == [2.0, 3.0]


def test_only_to_given_means_the_24_hours_before_it(client: TestClient, conn: psycopg.Connection,
                                                    device: tuple[str, int],
                                                    admin_key: str) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [(at(-25 * 60), 1.0), (at(-60), 2.0), (at(0), 3.0)])
    r = client.get(url, params={"metric": "power_w", "to": z(at(0))}, headers=auth(admin_key))
    assert [p["value"] for p in r.json()["data"]] == [2.0]


def test_bucket_averages_per_bucket(client: TestClient, conn: psycopg.Connection,
                                    device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [
        (at(0), 100.0), (at(20), 200.0), (at(40), 600.0),   # 10:00 bucket: average 300
        (at(75), 50.0), (at(105), 150.0),                    # 11:00 bucket: average 100
        (at(190), 7.0),                                      # 13:00 bucket (12:00 is empty)
    ])
    r = client.get(url, params={"metric": "power_w", "bucket": "1h", "from": z(at(0)),
                                "to": z(at(24 * 60))}, headers=auth(admin_key))
    assert r.status_code == 200, r.text
    points = [(parse(p["ts"]), p["value"]) for p in r.json()["data"]]
    assert points == [(at(0), pytest.approx(300.0)), (at(60), pytest.approx(100.0)),
                      (at(180), pytest.approx(7.0))]

    daily = client.get(url, params={"metric": "power_w", "bucket": "1d", "from": z(at(0)),
                                    "to": z(at(24 * 60))}, headers=auth(admin_key)).json()
    assert len(daily["data"]) == 1
    assert parse(daily["data"][0]["ts"]) == datetime(2026, 3, 2, tzinfo=UTC)  # midnight UTC
    assert daily["data"][0]["value"] == pytest.approx((100 + 200 + 600 + 50 + 150 + 7) / 6)


def walk(client: TestClient, url: str, params: dict[str, str | int],
         key: str) -> list[dict[str, object]]:
    """Follows `next` from the first page to the last; returns every page's body."""
    pages = [client.get(url, params=params, headers=auth(key)).json()]
    while pages[-1]["next"] is not None:
        assert len(pages) < 50, "next never ends"
        pages.append(client.get(pages[-1]["next"], headers=auth(key)).json())
    return pages


def test_next_walks_through_every_point_once(client: TestClient, conn: psycopg.Connection,
                                             device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    # Microseconds apart at the start: `next` must not skip or repeat close points.
    times = [at(0), at(0) + timedelta(microseconds=1), at(1), at(2), at(3), at(4), at(5)]
    insert_readings(conn, uid, "power_w", [(ts, float(i)) for i, ts in enumerate(times)])
    pages = walk(client, url, {"metric": "power_w", "from": z(at(0)), "to": z(at(60)),
                               "limit": 2}, admin_key)
    assert [p["count"] for p in pages] == [2, 2, 2, 1]
    seen = [point for page in pages for point in page["data"]]  # type: ignore[attr-defined]
    assert [parse(p["ts"]) for p in seen] == times
    assert [p["value"] for p in seen] == [float(i) for i in range(7)]


def test_next_keeps_the_query_and_the_end_of_the_window(
        client: TestClient, conn: psycopg.Connection, device: tuple[str, int],
        admin_key: str) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [(at(m), 1.0) for m in range(3)])
    first = client.get(url, params={"metric": "power_w", "from": z(at(0)), "to": z(at(60)),
                                    "limit": 2}, headers=auth(admin_key)).json()
    query = parse_qs(urlsplit(first["next"]).query)
    assert urlsplit(first["next"]).path == url
    assert query["metric"] == ["power_w"] and query["limit"] == ["2"]
    assert parse(query["to"][0]) == at(60)
    assert at(1) < parse(query["from"][0]) <= at(2)


def test_next_walks_through_buckets(client: TestClient, conn: psycopg.Connection,
                                    device: tuple[str, int], admin_key: str) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [(at(m), float(m)) for m in range(0, 50, 5)])
    pages = walk(client, url, {"metric": "power_w", "bucket": "10m", "from": z(at(0)),
                               "to": z(at(60)), "limit": 2}, admin_key)
    seen = [(parse(p["ts"]), p["value"]) for page in pages for p in page["data"]]  # type: ignore[attr-defined]
    assert seen == [(at(0), 2.5), (at(10), 12.5), (at(20), 22.5), (at(30), 32.5),
                    (at(40), 42.5)]
    assert [p["count"] for p in pages] == [2, 2, 1]


def test_limit_defaults_to_and_is_capped_at_10000(client: TestClient, conn: psycopg.Connection,
                                                  device: tuple[str, int],
                                                  admin_key: str) -> None:
    url, uid = device
    conn.execute(
        "insert into readings (ts, tenant_id, device_uid, metric, value) "
        "select %s + n * interval '1 second', tenant_id, uid, 'power_w', n "
        "from devices, generate_series(0, 10000) n where uid = %s",
        (T0, uid),
    )
    window = {"metric": "power_w", "from": z(at(0)), "to": z(at(24 * 60))}
    for extra in ({}, {"limit": 50_000}):
        body = client.get(url, params={**window, **extra}, headers=auth(admin_key)).json()
        assert body["count"] == 10_000
        assert body["next"] is not None
        rest = client.get(body["next"], headers=auth(admin_key)).json()
        assert [p["value"] for p in rest["data"]] == [10_000.0]
        assert rest["next"] is None


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({}, "metric"),
        ({"metric": "power_w", "bucket": "5"}, "bucket"),
        ({"metric": "power_w", "bucket": "1w"}, "bucket"),
        ({"metric": "power_w", "bucket": "0m"}, "bucket"),
        ({"metric": "power_w", "bucket": "-1h"}, "bucket"),
        ({"metric": "power_w", "from": "2026-03-02T10:00:00Z", "to": "2026-03-02T10:00:00Z"},
         "from"),
        ({"metric": "power_w", "from": "2026-03-02T11:00:00Z", "to": "2026-03-02T10:00:00Z"},
         "from"),
        ({"metric": "power_w", "from": "yesterday"}, "from"),
        ({"metric": "power_w", "to": "2026-03-02T10:00:00"}, "to"),
        ({"metric": "power_w", "limit": 0}, "limit"),
    ],
    ids=["no-metric", "bucket-no-unit", "bucket-weeks", "bucket-zero", "bucket-negative",
         "from-equals-to", "from-after-to", "from-not-a-date", "to-without-offset",
         "limit-zero"],
)
def test_invalid_query_is_422_naming_the_parameter(client: TestClient, device: tuple[str, int],
                                                   admin_key: str, params: dict[str, str],
                                                   parameter: str) -> None:
    url, _ = device
    r = client.get(url, params=params, headers=auth(admin_key))
    assert r.status_code == 422
    assert f"query parameter '{parameter}'" in r.json()["detail"]


def test_unknown_device_is_404(client: TestClient, tenant: str, admin_key: str) -> None:
    r = client.get(f"/api/v1/devices/{tenant}/nope/readings", params={"metric": "power_w"},
                   headers=auth(admin_key))
    assert r.status_code == 404


def test_readings_need_a_key(client: TestClient, device: tuple[str, int]) -> None:
    url, _ = device
    assert client.get(url, params={"metric": "power_w"}).status_code == 401


def test_instants_are_written_in_utc_whatever_the_session_time_zone(
        settings: Settings, conn: psycopg.Connection, device: tuple[str, int], admin_key: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, uid = device
    insert_readings(conn, uid, "power_w", [(at(0), 1.0)])
    monkeypatch.setenv("PGTZ", "Europe/Paris")  # libpq sets the session's TimeZone from it
    with TestClient(create_app(settings)) as paris:
        r = paris.get(url, params={"metric": "power_w", "from": z(at(0)), "to": z(at(1))},
                      headers=auth(admin_key))
    assert r.json()["data"] == [{"ts": "2026-03-02T10:00:00Z", "value": 1.0}]


@pytest.mark.parametrize("bucket", [timedelta(seconds=30), timedelta(minutes=7), timedelta(hours=1),
                                    timedelta(hours=5), timedelta(days=1), timedelta(days=7)],
                         ids=str)
def test_bucket_boundaries_computed_here_are_time_buckets(conn: psycopg.Connection,
                                                          bucket: timedelta) -> None:
    """The boundaries the readings query no longer asks the database for are TimescaleDB's."""
    instants = [datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                datetime(2000, 1, 3, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, 7, 5, tzinfo=UTC),
                datetime(2026, 11, 23, 21, 15, tzinfo=UTC)]
    for instant in instants:
        row = conn.execute("select time_bucket(%s, %s::timestamptz)", (bucket, instant)).fetchone()
        assert row is not None and bucket_floor(instant, bucket) == row[0], instant
