-- Public lighting: each tenant's night dimming policy, and dark zones for biodiversity.
-- analytics/lighting.py says what the values mean; the `lighting` job reads both to compute
-- every cabinet's schedule; the API (api/routes/lighting.py) lists and changes them.
--
-- Both tables carry tenant_id: migration 0005's trigger gives them row-level security when
-- this migration is recorded (a key reads and changes its own tenants' rows only).

-- One policy per tenant, or none: a tenant without one takes the nearest tenant above it that
-- has one (a commune its EPCI's or its syndicate's), else the platform's default. Times are
-- local (Europe/Paris); a time before noon is the morning after the evening.
create table lighting_policies (
    tenant_id       integer primary key references tenants (id),
    dusk_offset_min smallint not null default 0 check (dusk_offset_min between 0 and 180),
    dawn_offset_min smallint not null default 0 check (dawn_offset_min between 0 and 180),
    evening_level   smallint not null default 100 check (evening_level between 0 and 100),
    dim_at          time default '22:00',  -- null: no dimming step
    dim_level       smallint not null default 50 check (dim_level between 0 and 100),
    off_from        time default '23:00',  -- null: no switch-off
    off_until       time not null default '05:00',
    morning_level   smallint not null default 100 check (morning_level between 0 and 100),
    safety_level    smallint not null default 30 check (safety_level between 0 and 100),
    note            text check (length(note) <= 1000),
    updated_at      timestamptz not null default now(),
    updated_by      text not null
);

-- A dark zone (trame noire): the cabinets of its tenant and of the tenants below it that
-- stand inside `area` are capped at `level_pct` (0: off), all night or from `starts` to
-- `ends` (local times, both or neither).
create table dark_zones (
    id         integer generated always as identity primary key,
    tenant_id  integer not null references tenants (id),
    name       text not null check (length(name) between 1 and 200),
    area       geometry(MultiPolygon, 4326) not null check (st_isvalid(area)),
    level_pct  smallint not null default 0 check (level_pct between 0 and 100),
    starts     time,
    ends       time,
    reason     text check (length(reason) <= 1000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    updated_by text not null,
    unique (tenant_id, name),
    check ((starts is null) = (ends is null))
);
create index dark_zones_area_idx on dark_zones using gist (area);

-- The policy in force for a tenant of the request's scope: its own or the nearest one above
-- it, with the tenant it comes from (no row: the default). Security definer: a commune's key
-- may not read its EPCI's rows, but it may know the policy its cabinets follow. Nothing for a
-- tenant outside the scope.
create function lighting_policy_in_force(tenant integer)
returns table (source_tenant_id integer, source_slug text, depth integer,
               dusk_offset_min smallint, dawn_offset_min smallint, evening_level smallint,
               dim_at time, dim_level smallint, off_from time, off_until time,
               morning_level smallint, safety_level smallint, updated_at timestamptz)
language sql stable security definer set search_path from current as $$
    with recursive up(id, parent_id, depth) as (
        select id, parent_id, 0 from tenants where id = tenant and tenant = any (phare_scope())
        union all
        select t.id, t.parent_id, up.depth + 1 from tenants t join up on t.id = up.parent_id
    )
    select p.tenant_id, t.slug, up.depth, p.dusk_offset_min, p.dawn_offset_min,
           p.evening_level, p.dim_at, p.dim_level, p.off_from, p.off_until, p.morning_level,
           p.safety_level, p.updated_at
    from up join lighting_policies p on p.tenant_id = up.id join tenants t on t.id = up.id
    order by up.depth limit 1
$$;

-- The lighting job's hourly question: which applied schedules have no measurement yet?
create index commands_unmeasured_schedules_idx on commands (created_at)
    where type = 'set_schedule' and status = 'applied' and not detail ? 'measured';
