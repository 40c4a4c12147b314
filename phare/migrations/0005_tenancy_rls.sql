-- Tenancy and row-level security: kinds of tenants, partners and their grants, users, the
-- audit log, and the policies that confine the API's database role to the request's scope.
-- docs/roles.md describes the model; api/deps.py sets the scope of each request.
--
-- Who is bound by what:
--   - `phare` (owner of every table: ingest, worker, CLI, migrations) bypasses row-level
--     security. These processes act for the whole platform (a batch of MQTT messages spans
--     tenants) and never run a client's query. Nothing here uses FORCE ROW LEVEL SECURITY.
--   - every other role, `phare_api` first (the API's pool), sees only the rows the policies
--     let through: those of the tenants in the transaction-local setting `phare.tenant_ids`,
--     plus, for a partner (`phare.partner_id`), the devices of granted kinds and their rows.
--     With no setting, nothing: the policies fail closed.

-- --- tenants: kinds --------------------------------------------------------------------
alter table tenants add column kind text
    check (kind in ('syndicate', 'epci', 'commune', 'partner'));
update tenants t set kind = case
    when t.parent_id is null then 'syndicate'
    when (select p.parent_id from tenants p where p.id = t.parent_id) is null then 'epci'
    else 'commune' end;
alter table tenants alter column kind set not null;

-- A tenant created without a kind gets one from its place in the tree; partners have no
-- tenants below them (they are granted access to tenants instead).
create function tenants_default_kind() returns trigger
language plpgsql as $$
declare
    parent_kind text;
begin
    if new.parent_id is not null then
        select kind into parent_kind from tenants where id = new.parent_id;
        if parent_kind = 'partner' then
            raise exception 'a partner has no tenants below it' using errcode = 'check_violation';
        end if;
    end if;
    if new.kind is null then
        new.kind := case when new.parent_id is null then 'syndicate'
                         when parent_kind = 'syndicate' then 'epci'
                         else 'commune' end;
    end if;
    return new;
end $$;
create trigger tenants_default_kind before insert on tenants
    for each row execute function tenants_default_kind();

-- --- users ------------------------------------------------------------------------------
-- People with a role in a tenant. Their API keys act with the user's current role, and stop
-- working when the user is disabled.
create table users (
    id          integer generated always as identity primary key,
    tenant_id   integer not null references tenants (id),
    email       text not null check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' and length(email) <= 254),
    name        text check (length(name) between 1 and 200),
    role        text not null check (role in ('admin', 'technician', 'operator', 'viewer')),
    created_at  timestamptz not null default now(),
    disabled_at timestamptz
);
-- One account per address on the whole platform, whatever its case.
create unique index users_email_idx on users (lower(email));
create index users_tenant_idx on users (tenant_id);

-- A key belongs to a user, or is a service key (user_id null: gateways, scripts).
alter table api_keys add column user_id integer references users (id);
create index api_keys_tenant_idx on api_keys (tenant_id);

-- --- partners -----------------------------------------------------------------------------
-- A partner (a tenant of kind `partner`: a delegated water operator, the SDIS…) reads the
-- devices of the granted kinds in the granted tenant and the tenants below it, and their
-- readings, events, alerts…, until `expires_at`. One grant per (partner, tenant).
create table grants (
    id                integer generated always as identity primary key,
    partner_tenant_id integer not null references tenants (id),
    tenant_id         integer not null references tenants (id),
    kinds             text[] not null check (cardinality(kinds) > 0),
    expires_at        timestamptz not null,
    created_by        text not null,
    created_at        timestamptz not null default now(),
    unique (partner_tenant_id, tenant_id)
);
create index grants_tenant_idx on grants (tenant_id);

-- --- audit log ----------------------------------------------------------------------------
-- Every change made through the API or the CLI: who, what, on what. Append-only for the API.
create table audit_log (
    id        bigint generated always as identity primary key,
    at        timestamptz not null default now(),
    tenant_id integer not null references tenants (id),  -- the tenant whose data changed
    actor     text not null,                 -- 'key:12', 'user:jeanne@…', 'cli:root'
    key_id    integer references api_keys (id),
    user_id   integer references users (id),
    action    text not null check (action ~ '^[a-z_]+\.[a-z_]+$'),  -- device.register, key.create…
    target    text not null,                 -- what it acted on, e.g. 'saint-flour/armoire-12'
    detail    jsonb not null default '{}'
);
create index audit_log_tenant_at_idx on audit_log (tenant_id, at desc);

-- --- the request's scope ------------------------------------------------------------------
-- The API sets both settings per request, inside the request's transaction:
--   select set_config('phare.tenant_ids', '{3,7,8}', true), set_config('phare.partner_id', '', true)
-- Unset or empty: no tenant at all.
create function phare_scope() returns integer[]
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('phare.tenant_ids', true), ''), '{}')::integer[]
$$;

create function phare_partner() returns integer
language sql stable parallel safe as $$
    select nullif(current_setting('phare.partner_id', true), '')::integer
$$;

-- (tenant, kind) pairs the request's partner may read: its unexpired grants, each covering the
-- granted tenant and those below it. Security definer: it reads grants and tenants whatever
-- their policies (no recursion), and only for the partner of the request's setting.
create function phare_partner_access() returns table (tenant_id integer, kind text)
language sql stable security definer set search_path from current as $$
    select s.id, k.kind
    from grants g
    cross join lateral tenant_subtree(g.tenant_id) s(id)
    cross join lateral unnest(g.kinds) k(kind)
    where g.partner_tenant_id = phare_partner() and g.expires_at > now()
$$;

-- Whether the scope holds a root tenant that is not a partner: the platform operator, who
-- also sees the rejected messages whose topic named no known tenant.
create function phare_is_operator() returns boolean
language sql stable security definer set search_path from current as $$
    select exists (select 1 from tenants
                   where id = any (phare_scope()) and parent_id is null and kind <> 'partner')
$$;

-- The principal of an API key (its hash): what the API needs before any scope is set, so it
-- reads api_keys, users and grants as their owner. A user's key acts with the user's current
-- role; a disabled user's keys are refused. For a partner, granted_tenants[i] and
-- granted_kinds[i] are what it may read through its unexpired grants.
create function phare_authenticate(hash bytea)
returns table (key_id integer, tenant_id integer, tenant text, kind text, role text,
               user_id integer, user_email text, scope integer[],
               granted_tenants integer[], granted_kinds text[])
language sql stable security definer set search_path from current as $$
    select k.id, k.tenant_id, t.slug, t.kind, coalesce(u.role, k.role), k.user_id, u.email,
           array(select tenant_subtree(k.tenant_id)), a.tenants, a.kinds
    from api_keys k
    cross join lateral (
        select coalesce(array_agg(s.id order by s.id, k2.kind), '{}') as tenants,
               coalesce(array_agg(k2.kind order by s.id, k2.kind), '{}') as kinds
        from grants g
        cross join lateral tenant_subtree(g.tenant_id) s(id)
        cross join lateral unnest(g.kinds) k2(kind)
        where g.partner_tenant_id = k.tenant_id and g.expires_at > now()
          and exists (select 1 from tenants p where p.id = k.tenant_id and p.kind = 'partner')
    ) a
    join tenants t on t.id = k.tenant_id
    left join users u on u.id = k.user_id
    where k.key_hash = hash and k.revoked_at is null and u.disabled_at is null
$$;

-- --- policies -----------------------------------------------------------------------------
-- Scalar sub-selects around phare_scope() make it an InitPlan: computed once per query, not
-- once per row.

-- A tenant table: its rows are read and written within the scope; a row of a device
-- (device_uid) is also read by a partner that may read the device. That test is a hashed
-- semi-join on the devices the partner sees (themselves filtered by their own policy): one
-- scan of the visible devices per query, then a hash probe per row - evaluated only when the
-- request is a partner's.
create function protect_tenant_table(tbl regclass) returns void
language plpgsql as $$
begin
    execute format('alter table %s enable row level security', tbl);
    execute format('create policy tenant_scope on %s '
                   'using (tenant_id = any ((select phare_scope())::integer[])) '
                   'with check (tenant_id = any ((select phare_scope())::integer[]))', tbl);
    if exists (select 1 from pg_attribute
               where attrelid = tbl and attname = 'device_uid' and not attisdropped) then
        execute format('create policy partner_read on %s for select '
                       'using ((select phare_partner()) is not null '
                       '       and device_uid in (select uid from devices))', tbl);
    end if;
end $$;

-- Grants `privileges` (e.g. 'select, insert, update, delete') on a table to the API's role.
-- A hypertable gets them column by column (and no delete): TimescaleDB copies a hypertable's
-- table privileges to each new chunk, but not its row-level security (timescale/timescaledb
-- #7830), so a role with table privileges could name a chunk (_timescaledb_internal._hyper_…)
-- and read it unfiltered. Column privileges are not copied to new chunks; a GRANT propagates
-- them to the existing ones, so they are revoked there. Queries through the hypertable check
-- the hypertable's privileges only.
create function grant_to_api(tbl regclass, privileges text) returns void
language plpgsql as $$
declare
    columns text;
    chunk regclass;
    p text;
begin
    if not exists (select 1 from timescaledb_information.hypertables h
                   join pg_class c on c.relname = h.hypertable_name
                   join pg_namespace n on n.oid = c.relnamespace and n.nspname = h.hypertable_schema
                   where c.oid = tbl) then
        execute format('grant %s on %s to phare_api', privileges, tbl);
        return;
    end if;
    select string_agg(quote_ident(attname), ', ' order by attnum) into columns
    from pg_attribute where attrelid = tbl and attnum > 0 and not attisdropped;
    foreach p in array array['select', 'insert', 'update'] loop
        if privileges ~ p then
            execute format('grant %s (%s) on %s to phare_api', p, columns, tbl);
        end if;
    end loop;
    for chunk in select show_chunks(tbl) loop
        execute format('revoke all (%s) on %s from phare_api', columns, chunk);
    end loop;
end $$;

-- Every table of `schema_name` with a tenant_id and no row-level security yet gets the
-- policies above; the API's role (if it exists) gets read and write on it, and read on the
-- platform tables (no tenant_id: job runs…) it has no privilege on yet. Idempotent. A
-- migration that wants other policies enables row-level security itself, and this leaves it be.
create function protect_tenant_tables(schema_name text) returns void
language plpgsql as $$
declare
    t record;
    api boolean := exists (select 1 from pg_roles where rolname = 'phare_api');
begin
    for t in
        select c.oid::regclass as tbl, c.relname, c.relrowsecurity as protected,
               exists (select 1 from pg_attribute a where a.attrelid = c.oid
                       and a.attname = 'tenant_id' and not a.attisdropped) as tenant_owned
        from pg_class c
        where c.relnamespace = schema_name::regnamespace and c.relkind in ('r', 'p')
          and c.relname <> 'schema_migrations'
    loop
        if t.tenant_owned and not t.protected then
            perform protect_tenant_table(t.tbl);
        end if;
        if api and not has_any_column_privilege('phare_api', t.tbl, 'select') then
            perform grant_to_api(t.tbl, case when t.relname = 'audit_log'
                                             then 'select, insert'  -- append-only
                                             when t.tenant_owned
                                             then 'select, insert, update, delete'
                                             else 'select' end);
        end if;
    end loop;
    if api then
        execute format('grant usage on schema %I to phare_api', schema_name);
    end if;
end $$;

-- Tables created by the migrations after this one are protected as soon as each is recorded.
create function protect_after_migration() returns trigger
language plpgsql as $$
begin
    perform protect_tenant_tables(tg_table_schema);
    return null;
end $$;
create trigger protect_after_migration after insert on schema_migrations
    for each statement execute function protect_after_migration();

select protect_tenant_tables(current_schema());

-- Devices: a partner reads those of the kinds granted in their tenant.
create policy partner_read on devices for select
    using ((select phare_partner()) is not null
           and (tenant_id, kind) in (select tenant_id, kind from phare_partner_access()));

-- Rejected messages whose topic named no known tenant: the platform operator's only.
create policy operator_read on rejected_messages for select
    using (tenant_id is null and (select phare_is_operator()));

-- Grants are also read by the partner they are made to (it sees what it may read).
create policy partner_read on grants for select
    using (partner_tenant_id = any ((select phare_scope())::integer[]));

-- Tenants: those of the scope, those a partner reads through its grants, and, for any
-- request with a scope, the partners themselves (public bodies and companies an admin grants
-- access to, named by their slug). The API's role creates no tenants (the CLI does).
alter table tenants enable row level security;
create policy tenant_read on tenants for select
    using (id = any ((select phare_scope())::integer[])
           or (kind = 'partner' and (select cardinality(phare_scope())) > 0)
           or id in (select tenant_id from phare_partner_access()));
