"""Decoding native messages: what is kept, what is rejected, and why (contract §1.2-1.3, §5)."""

from datetime import UTC, datetime, timedelta

import pytest

from ingest.decode import decode_message
from ingest.model import Reason

NOW = datetime(2026, 11, 23, 21, 20, tzinfo=UTC)
TOPIC = "phare/v1/saint-flour/armoire-12/telemetry"


def decode(payload: bytes, topic: str = TOPIC, max_payload_bytes: int = 4096):
    decoded = decode_message(topic, payload, max_payload_bytes=max_payload_bytes,
                             max_future=timedelta(minutes=10), now=NOW)
    if not decoded:
        return None
    assert len(decoded) == 1
    return decoded[0]


def test_contract_example_reading():
    d = decode(b'{"ts": "2026-11-23T21:15:00Z", "seq": 1042, "metrics": {"power_w": 1830.5, '
               b'"energy_kwh": 12034.25, "output_on": true}}')
    ts = datetime(2026, 11, 23, 21, 15, tzinfo=UTC)
    assert d.tenant == "saint-flour" and d.device_id == "armoire-12"
    assert d.values == [(ts, "power_w", 1830.5), (ts, "energy_kwh", 12034.25), (ts, "output_on", 1.0)]
    assert d.rejections == []


def test_epoch_milliseconds_and_offsets():
    d = decode(b'[{"ts": 1795468500000, "metrics": {"a": 1}},'
               b' {"ts": "2026-11-23T22:15:00+01:00", "metrics": {"a": 2}}]')
    assert [v[0] for v in d.values] == [datetime.fromtimestamp(1795468500, UTC),
                                        datetime(2026, 11, 23, 21, 15, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("payload", "reason", "words"),
    [
        pytest.param(b"not json at all", Reason.INVALID_JSON, "not valid JSON", id="garbage"),
        pytest.param(b"\xff\xfe\x00", Reason.INVALID_JSON, "not valid JSON", id="binary"),
        pytest.param(b'{"metrics": {"a": 1}}', Reason.MISSING_TS, "'ts' is missing", id="no-ts"),
        pytest.param(b'{"ts": "yesterday", "metrics": {"a": 1}}', Reason.INVALID_TS,
                     "not an RFC 3339", id="bad-ts"),
        pytest.param(b'{"ts": "2026-11-23T21:15:00", "metrics": {"a": 1}}', Reason.INVALID_TS,
                     "no UTC offset", id="naive-ts"),
        pytest.param(b'{"ts": "2026-11-23T23:15:00Z", "metrics": {"a": 1}}', Reason.FUTURE_TS,
                     "in the future", id="future-ts"),
        pytest.param(b'{"ts": 1795468500000, "seq": -1, "metrics": {"a": 1}}',
                     Reason.INVALID_READING, "'seq'", id="negative-seq"),
        pytest.param(b'{"ts": 1795468500000, "metrics": {}}', Reason.INVALID_READING,
                     "'metrics'", id="empty-metrics"),
        pytest.param(b'{"ts": 1795468500000, "metrics": [1, 2]}', Reason.INVALID_READING,
                     "'metrics'", id="metrics-not-object"),
        pytest.param(b'"just a string"', Reason.INVALID_READING, "expected a JSON object",
                     id="not-object"),
    ],
)
def test_malformed_reading_is_rejected_with_reason(payload, reason, words):
    d = decode(payload)
    assert d.values == []
    assert [r.reason for r in d.rejections] == [reason]
    assert words in d.rejections[0].detail


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(b"NaN", "NaN is not a finite number", id="nan"),
        pytest.param(b"Infinity", "Infinity is not a finite number", id="infinity"),
        pytest.param(b'"12.5"', "'12.5' is not a finite number", id="string"),
        pytest.param(b"null", "None is not a finite number", id="null"),
        pytest.param(b"{}", "{} is not a finite number", id="object"),
        pytest.param(b"1e400", "is not a finite number", id="overflow"),
    ],
)
def test_invalid_metric_is_rejected_and_its_neighbours_kept(value, words):
    d = decode(b'{"ts": 1795468500000, "metrics": {"good": 3, "bad": ' + value + b"}}")
    assert [(m, v) for _, m, v in d.values] == [("good", 3.0)]
    assert [r.reason for r in d.rejections] == [Reason.INVALID_VALUE]
    assert "metric 'bad'" in d.rejections[0].detail and words in d.rejections[0].detail


def test_backlog_keeps_valid_readings_and_names_the_bad_item():
    d = decode(b'[{"ts": 1795468500000, "metrics": {"a": 1}}, {"metrics": {"a": 2}},'
               b' {"ts": 1795468560000, "metrics": {"a": 3}}]')
    assert [v for _, _, v in d.values] == [1.0, 3.0]
    assert d.rejections[0].detail.startswith("item 1: ")


def test_oversized_payload_is_rejected_before_parsing():
    d = decode(b'{"ts": 1795468500000, "metrics": {"a": 1}}' + b" " * 5000)
    assert [r.reason for r in d.rejections] == [Reason.PAYLOAD_TOO_LARGE]
    assert "exceeds the limit of 4096 bytes" in d.rejections[0].detail


@pytest.mark.parametrize(
    "topic",
    ["phare/v1/Bad_Tenant/dev/telemetry", "phare/v1/t/dev/unknown", "other/topic",
     "phare/v1/t/" + "x" * 65 + "/telemetry", "phare/v2/t/d/telemetry"],
)
def test_topic_outside_the_contract_is_rejected(topic):
    d = decode(b"{}", topic=topic)
    assert [r.reason for r in d.rejections] == [Reason.UNKNOWN_TOPIC]


def test_commands_are_outbound_and_ignored():
    assert decode(b'{"id": "x"}', topic="phare/v1/t/d/cmd") is None


def test_empty_status_clears_the_retained_message_and_is_no_error():
    assert decode(b"", topic="phare/v1/t/d/status") is None


def test_event_and_status():
    e = decode(b'{"ts": "2026-11-23T21:16:02Z", "type": "door_open", "active": true,'
               b' "detail": {"input": 2}}', topic="phare/v1/t/d/event")
    assert [(x.type, x.active, x.detail) for x in e.events] == [("door_open", True, {"input": 2})]
    s = decode(b'{"online": false}', topic="phare/v1/t/d/status")
    assert s.status is not None and s.status.online is False and s.rejections == []
    bad = decode(b'{"ts": 1795468500000, "type": "", "active": "yes"}', topic="phare/v1/t/d/event")
    assert [r.reason for r in bad.rejections] == [Reason.INVALID_EVENT]
