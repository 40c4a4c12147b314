"""The writer's COPY paths: straight into readings, or through staging when values repeat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.decode import decode_message
from ingest.model import Decoded
from ingest.writer import STAGED_AFTER_DUPLICATES, Writer
from phare import db
from tests.conftest import register_device
from tests.ingest.test_consumer import reading, stored_values

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def messages(tenant: str, device: str, first: int, count: int) -> list[Decoded]:
    return [d for i in range(first, first + count)
            for d in decode_message(f"phare/v1/{tenant}/{device}/telemetry",
                                    reading(T0 + timedelta(minutes=i), i, power_w=float(i),
                                            output_on=True),
                                    max_payload_bytes=4096, max_future=timedelta(minutes=10))]


def test_values_already_stored_are_counted_and_stored_once(settings, conn, tenant):
    register_device(conn, tenant, "armoire-w")
    with db.connect(settings) as wconn:
        writer = Writer(wconn)
        first = writer.write(messages(tenant, "armoire-w", 0, 10))
        assert (first.values_stored, first.values_duplicate) == (20, 0)
        # Five resent, five new: the direct COPY is refused, the staging path stores the new.
        resent = writer.write(messages(tenant, "armoire-w", 5, 10))
        assert (resent.values_stored, resent.values_duplicate) == (10, 10)
        # A resend inside one batch too.
        inside = writer.write(messages(tenant, "armoire-w", 15, 3) * 2)
        assert (inside.values_stored, inside.values_duplicate) == (6, 6)
        # Clean batches after a run of them go straight in again, still counted right.
        for k in range(STAGED_AFTER_DUPLICATES + 2):
            clean = writer.write(messages(tenant, "armoire-w", 100 + 10 * k, 10))
            assert (clean.values_stored, clean.values_duplicate) == (20, 0)
        again = writer.write(messages(tenant, "armoire-w", 0, 2))
        assert (again.values_stored, again.values_duplicate) == (0, 4)
    assert stored_values(conn, tenant) == 2 * (18 + 10 * (STAGED_AFTER_DUPLICATES + 2))
