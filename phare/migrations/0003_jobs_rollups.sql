-- Scheduled jobs (`phare worker`): their state and runs; hourly and daily rollups of readings.
-- The TimescaleDB here is the Apache-2 edition (no continuous aggregates, no job policies), so
-- rollups and retention are Phare's own jobs (analytics/).

-- Where each job stands: the instant up to which it has processed (meaning per job).
create table job_state (
    job        text primary key,
    watermark  timestamptz,
    updated_at timestamptz not null
);

-- One row per run of a job, ok or failed. Platform-wide: no tenant data.
create table job_runs (
    id          bigint generated always as identity primary key,
    job         text not null,
    started_at  timestamptz not null,
    finished_at timestamptz not null,
    rows        bigint not null default 0,
    status      text not null check (status in ('ok', 'failed')),
    error       text
);
-- Due-ness of a job and the API's "runs of one job", newest first.
create index job_runs_job_idx on job_runs (job, started_at desc);
create index job_runs_started_idx on job_runs (started_at desc);

-- Hours whose rollups must be recomputed, for the devices uid_min..uid_max. Append-only:
-- ingest adds a row per (batch, hour touched) in the batch's own transaction, the rollup job
-- deletes the rows it has processed (analytics/rollups.py explains why this is race-free).
create table rollup_dirty (
    id        bigint generated always as identity primary key,
    hour      timestamptz not null,
    uid_min   integer not null,
    uid_max   integer not null check (uid_max >= uid_min)
);
create index rollup_dirty_hour_idx on rollup_dirty (hour);

-- Hourly rollups (UTC hours). `last`: the value at the latest ts in the hour; `delta`: for
-- cumulative indexes only, the consumption attributed to the hour (null otherwise).
create table readings_hourly (
    tenant_id   integer not null,
    device_uid  integer not null,
    metric      text not null,
    bucket      timestamptz not null,
    avg         double precision not null,
    min         double precision not null,
    max         double precision not null,
    count       integer not null,
    last        double precision not null,
    delta       double precision,
    computed_at timestamptz not null,
    primary key (device_uid, metric, bucket)
);
-- ~2.4 M rows a day for 10,000 devices: chunks of 30 days, kept for years.
select create_hypertable('readings_hourly', 'bucket', chunk_time_interval => interval '30 days');

-- Daily rollups over Europe/Paris days: `bucket` is the instant the local day starts
-- (23:00 or 22:00 UTC the day before).
create table readings_daily (
    tenant_id   integer not null,
    device_uid  integer not null,
    metric      text not null,
    bucket      timestamptz not null,
    avg         double precision not null,
    min         double precision not null,
    max         double precision not null,
    count       integer not null,
    last        double precision not null,
    delta       double precision,
    computed_at timestamptz not null,
    primary key (device_uid, metric, bucket)
);
select create_hypertable('readings_daily', 'bucket', chunk_time_interval => interval '365 days');
