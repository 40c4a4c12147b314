"""The retention job: drops raw `readings` chunks older than `PHARE_RETENTION_RAW_DAYS`.

A chunk (one UTC day) is dropped only when its rollups are complete: before the rollup job's
watermark and before any hour still marked for recomputation. Rollups themselves are kept.
The job's watermark is the raw horizon: raw readings before it are gone, so the rollup job
leaves the rollups of those hours as they are.
"""

from __future__ import annotations

from datetime import timedelta

from analytics.job import Job, JobContext, read_watermark, write_watermark
from analytics.rollups import RETENTION_JOB, rolled_up_before

INTERVAL = timedelta(hours=1)

_OLD_CHUNKS = (
    "select format('%%I.%%I', chunk_schema, chunk_name), range_start, range_end "
    "from timescaledb_information.chunks "
    "where format('%%I.%%I', hypertable_schema, hypertable_name)::regclass = 'readings'::regclass "
    "and range_end <= %s order by range_end"
)


def run(ctx: JobContext) -> int:
    """Drops the old chunks whose rollups are complete, oldest first; returns how many."""
    conn = ctx.conn
    cutoff = ctx.now - timedelta(days=ctx.settings.retention_raw_days)
    complete = rolled_up_before(conn)
    if complete is None:
        ctx.log.info("retention: nothing dropped, readings have never been rolled up")
        conn.commit()
        return 0
    limit = min(cutoff, complete)
    chunks = conn.execute(_OLD_CHUNKS, (limit,)).fetchall()
    conn.commit()
    dropped = 0
    for name, range_start, range_end in chunks:
        if ctx.should_stop():
            break
        conn.execute("select drop_chunks('readings', older_than => %s::timestamptz)", (range_end,))
        # drop_chunks waited for the transactions writing into the chunk: a late row committed
        # meanwhile has its mark visible now, and the chunk is kept until it is rolled up.
        late = conn.execute("select exists (select 1 from rollup_dirty where hour < %s)",
                            (range_end,)).fetchone()
        if late is not None and late[0]:
            conn.rollback()
            ctx.log.warning("retention: late data arrived for %s, kept until rolled up",
                            range_start.isoformat())
            break
        horizon = read_watermark(conn, RETENTION_JOB)
        write_watermark(conn, RETENTION_JOB, max(range_end, horizon or range_end), now=ctx.now)
        conn.commit()
        dropped += 1
        ctx.log.info("retention: dropped %s, raw readings [%s, %s)", name,
                     range_start.isoformat(), range_end.isoformat())
    if not chunks:
        ctx.log.info("retention: nothing to drop before %s", limit.isoformat())
    return dropped


JOB = Job(RETENTION_JOB, INTERVAL, run,
          "drops raw readings older than PHARE_RETENTION_RAW_DAYS once they are rolled up")
