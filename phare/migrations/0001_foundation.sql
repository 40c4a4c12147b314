-- Foundation: tenants, devices, readings, events, rejected messages, commands, API keys.
-- Every tenant-owned table carries tenant_id so that row-level security can filter it
-- without a join.

-- Tenants form a tree: syndicate -> EPCI -> commune. A key sees its tenant and those below.
create table tenants (
    id         integer generated always as identity primary key,
    slug       text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name       text not null check (length(name) between 1 and 200),
    parent_id  integer references tenants (id),
    created_at timestamptz not null default now()
);
-- Walking down the tree (scope of a key) reads children by parent.
create index tenants_parent_idx on tenants (parent_id);

-- The tenant and every tenant below it.
create function tenant_subtree(root integer) returns setof integer
language sql stable as $$
    with recursive t(id) as (
        select root
        union
        select c.id from tenants c join t on c.parent_id = t.id
    )
    select id from t
$$;

create table devices (
    -- uid: a compact key for the readings hypertable (4 bytes a row instead of two texts).
    uid         integer generated always as identity primary key,
    tenant_id   integer not null references tenants (id),
    id          text not null check (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    kind        text not null,
    name        text not null check (length(name) between 1 and 200),
    model       text,
    location    geography(Point, 4326),
    dev_eui     text unique check (dev_eui ~ '^[0-9A-F]{16}$'),  -- stored upper-case
    lorawan_id  text,                                          -- network server's device id
    metadata    jsonb not null default '{}',
    created_at  timestamptz not null default now(),
    last_seen   timestamptz,
    online      boolean,
    firmware    text,
    -- Ingest resolves (tenant, device id) from the topic; the API lists a tenant's devices.
    unique (tenant_id, id)
);
-- LoRaWAN uplinks are matched by the network server's device id when no DevEUI matches.
create index devices_lorawan_id_idx on devices (lorawan_id) where lorawan_id is not null;
-- Map and GIS queries (devices in a zone).
create index devices_location_idx on devices using gist (location);

-- One row per value. Chunks of one day: with 10,000 devices reporting ~6 values every
-- 5 minutes a day is ~17 M rows (~2 GB with its index), so the active chunk and its index
-- stay in memory, and retention drops whole days.
create table readings (
    ts         timestamptz not null,
    tenant_id  integer not null,
    device_uid integer not null,
    metric     text not null,
    value      double precision not null
);
select create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day');
-- The only index: it makes a resent value idempotent (insert ... on conflict do nothing)
-- and serves the API's readings query (one device, one metric, a time range).
create unique index readings_device_metric_ts_idx on readings (device_uid, metric, ts desc);

-- Device events (door open, smoke, ...). Few rows: chunks of 30 days.
create table events (
    ts          timestamptz not null,
    tenant_id   integer not null,
    device_uid  integer not null,
    type        text not null,
    active      boolean not null default true,
    detail      jsonb not null default '{}',
    received_at timestamptz not null default now()
);
select create_hypertable('events', 'ts', chunk_time_interval => interval '30 days');
-- Idempotency of a resent event, and "events of a device over time".
create unique index events_device_ts_type_idx on events (device_uid, ts desc, type);
-- Listing a tenant's recent events.
create index events_tenant_ts_idx on events (tenant_id, ts desc);

-- Messages ingest could not store, kept for operators with a readable reason.
create table rejected_messages (
    id          bigint generated always as identity primary key,
    received_at timestamptz not null default now(),
    tenant_id   integer references tenants (id),   -- null when the topic names no known tenant
    device_id   text,
    topic       text not null,
    reason      text not null,       -- a stable code: invalid_json, unknown_device, ...
    detail      text not null,       -- what a person reads
    payload     bytea not null,      -- the payload, or its first bytes when truncated
    payload_size integer not null,
    payload_truncated boolean not null default false
);
-- Operators list a tenant's latest rejections, and count them by reason.
create index rejected_tenant_time_idx on rejected_messages (tenant_id, received_at desc);
create index rejected_reason_idx on rejected_messages (reason, received_at desc);

create table commands (
    id          uuid primary key default gen_random_uuid(),
    tenant_id   integer not null references tenants (id),
    device_uid  integer not null references devices (uid),
    type        text not null,
    params      jsonb not null default '{}',
    status      text not null default 'queued'
                check (status in ('queued', 'sent', 'applied', 'rejected', 'failed', 'expired')),
    created_at  timestamptz not null default now(),
    sent_at     timestamptz,
    expires_at  timestamptz,
    acked_at    timestamptz,
    detail      jsonb not null default '{}'
);
-- A device's command history, newest first.
create index commands_device_idx on commands (device_uid, created_at desc);

create table api_keys (
    id          integer generated always as identity primary key,
    tenant_id   integer not null references tenants (id),
    role        text not null check (role in ('admin', 'technician', 'operator', 'viewer')),
    prefix      text not null,                 -- first characters, shown to identify a key
    key_hash    bytea not null unique,         -- sha256 of the key: lookup on every request
    name        text,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
