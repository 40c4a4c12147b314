-- Alerts (alerts/): their life cycle and audit trail, the outbox ingest fills for the rules
-- engine, notification routes and deliveries, per-tenant policies, CAP 1.2 messages.
--
--   open -> acknowledged -> resolved        (by hand, or when the condition clears)
--   open -> resolved
--   resolved -> open                        (a new occurrence within the reopen window)
--
-- Every tenant-owned table carries tenant_id, for row-level security.

-- One row per incident. A device has at most one active (open or acknowledged) alert per type:
-- the partial unique index below is what guarantees it, whoever raises the alert.
create table alerts (
    id               bigint generated always as identity primary key,
    tenant_id        integer not null references tenants (id),
    device_uid       integer not null references devices (uid),
    type             text not null check (type ~ '^[a-z][a-z0-9_]{0,63}$'),
    severity         text not null
                     check (severity in ('info', 'low', 'medium', 'high', 'critical')),
    status           text not null default 'open'
                     check (status in ('open', 'acknowledged', 'resolved')),
    source           text not null,            -- rules, health, analytics:<job>, api …
    -- The conditions that hold it open (e.g. smoke, heat): it resolves by itself when the
    -- last one clears.
    conditions       text[] not null default '{}',
    -- What operators read, rendered in French when it changes; text_key and params let the
    -- API render it in another language.
    message          text not null,
    text_key         text not null,
    params           jsonb not null default '{}',
    opened_at        timestamptz not null,     -- first opened
    reopened_at      timestamptz,              -- last reopened (escalation counts from it)
    last_seen_at     timestamptz not null,     -- the latest observation of the condition
    occurrences      integer not null default 1 check (occurrences >= 1),
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    ack_comment      text,
    resolved_at      timestamptz,
    resolved_by      text,
    resolution       text check (resolution in ('cleared', 'manual')),
    escalation_level integer not null default 0,
    escalated_at     timestamptz,
    updated_at       timestamptz not null
);
create unique index alerts_one_active_idx on alerts (device_uid, type) where status <> 'resolved';
-- The API lists a tenant's alerts, newest first; reopening looks for the latest resolved one.
create index alerts_tenant_idx on alerts (tenant_id, opened_at desc);
create index alerts_device_type_idx on alerts (device_uid, type, resolved_at desc);
-- The escalation timer's question: which alerts are still unacknowledged?
create index alerts_open_idx on alerts (opened_at) where status = 'open';

-- The audit trail: every change of status, severity or escalation level, with who and why.
create table alert_transitions (
    id            bigint generated always as identity primary key,
    alert_id      bigint not null references alerts (id) on delete cascade,
    tenant_id     integer not null,
    at            timestamptz not null,
    kind          text not null check (kind in ('opened', 'reopened', 'severity_raised',
                                                'acknowledged', 'escalated', 'resolved')),
    from_status   text,
    to_status     text not null,
    from_severity text,
    to_severity   text not null,
    actor         text not null,             -- rules, health, escalation, key phk_…, …
    actor_key_id  integer references api_keys (id),
    comment       text,
    detail        jsonb not null default '{}'
);
create index alert_transitions_alert_idx on alert_transitions (alert_id, id);

-- The outbox: ingest adds the few rule-relevant items of a batch (every event; readings of
-- hazard metrics and battery levels) in the batch's own transaction and NOTIFYs phare_inbox;
-- the rules engine consumes and deletes them (alerts/outbox.py explains why by deletion and
-- not by an id watermark).
create table alert_inbox (
    id          bigint generated always as identity primary key,
    ts          timestamptz not null,
    tenant_id   integer not null,
    device_uid  integer not null,
    kind        text not null check (kind in ('reading', 'event')),
    name        text not null,               -- the metric or the event type
    value       double precision,            -- readings
    active      boolean,                     -- events
    detail      jsonb                        -- events
);

-- Per-tenant policy; a tenant without a row inherits its nearest ancestor's, then the
-- settings' defaults (PHARE_ALERTS_*).
create table alert_policies (
    tenant_id         integer primary key references tenants (id),
    escalate_after_s  integer check (escalate_after_s > 0),
    reopen_window_s   integer check (reopen_window_s >= 0),
    max_escalation    integer check (max_escalation between 0 and 10),
    updated_at        timestamptz not null default now()
);

-- Who is told what: a route of a tenant covers its alerts and those of the tenants below it.
-- Level 0 routes are notified when an alert opens; level n when it escalates to level n.
create table notification_routes (
    id            bigint generated always as identity primary key,
    tenant_id     integer not null references tenants (id),
    types         text[],                    -- null: every type
    min_severity  text not null default 'info'
                  check (min_severity in ('info', 'low', 'medium', 'high', 'critical')),
    channel       text not null check (channel in ('webhook', 'email', 'mqtt')),
    target        text not null,             -- URL, e-mail address(es), or '' (MQTT)
    secret        text,                      -- webhooks: the HMAC-SHA256 key
    escalation_level integer not null default 0 check (escalation_level between 0 and 10),
    lang          text not null default 'fr' check (lang in ('fr', 'en')),
    notify_resolved boolean not null default true,
    enabled       boolean not null default true,
    created_at    timestamptz not null default now()
);
create index notification_routes_tenant_idx on notification_routes (tenant_id) where enabled;

-- Every notification, from queued to sent or failed: what, to whom, when, how it went.
create table notification_log (
    id              bigint generated always as identity primary key,
    tenant_id       integer not null,
    alert_id        bigint not null references alerts (id) on delete cascade,
    route_id        bigint references notification_routes (id) on delete set null,
    event           text not null,           -- the transition that caused it
    channel         text not null,
    target          text not null,
    subject         text not null,
    body            text not null,           -- exactly what is sent (JSON for webhooks, MQTT)
    status          text not null default 'pending'
                    check (status in ('pending', 'sent', 'failed')),
    attempts        integer not null default 0,
    error           text,
    created_at      timestamptz not null,
    next_attempt_at timestamptz not null,
    sent_at         timestamptz
);
-- The dispatcher's question: which deliveries are due?
create index notification_log_due_idx on notification_log (next_attempt_at)
    where status = 'pending';
create index notification_log_alert_idx on notification_log (alert_id, id);

-- CAP 1.2 messages issued for fire and flood alerts: Alert, then Update(s), then Cancel, each
-- referencing the first message of its series.
create table cap_messages (
    id          bigint generated always as identity primary key,
    tenant_id   integer not null,
    alert_id    bigint not null references alerts (id) on delete cascade,
    identifier  text not null unique,
    msg_type    text not null check (msg_type in ('Alert', 'Update', 'Cancel')),
    sent        timestamptz not null,
    xml         text not null
);
create index cap_messages_tenant_idx on cap_messages (tenant_id, sent desc);
create index cap_messages_alert_idx on cap_messages (alert_id, id);

-- NOTIFY channels are database-wide; the schema names them, so that two Phare schemas in one
-- database (test sessions) never hear each other: phare_alerts in schema `phare`,
-- phare_alerts.<schema> elsewhere.
create function alert_channel(base text) returns text
language sql stable as $$
    select case when current_schema() = 'phare' then base
                else left(base || '.' || current_schema(), 63) end
$$;

-- The routes a tenant's alert of this type and severity may reach: the tenant's and its
-- ancestors'. Security definer: the API (bound by row-level security) resolving an alert of
-- its scope must also reach the routes its EPCI set up, which it cannot read; it is answered
-- only for a tenant of its scope (0005_tenancy_rls.sql, phare_scope), without the secrets.
create function alert_routes(p_tenant_id integer, p_type text, p_severity text)
returns table (id bigint, channel text, target text, escalation_level integer, lang text,
               notify_resolved boolean)
language sql stable security definer set search_path from current as $$
    with recursive up(id, parent_id) as (
        select t.id, t.parent_id from tenants t
        where t.id = p_tenant_id
          and (session_user = current_user or p_tenant_id = any (phare_scope()))
        union all
        select t.id, t.parent_id from tenants t join up on t.id = up.parent_id
    )
    select r.id, r.channel, r.target, r.escalation_level, r.lang, r.notify_resolved
    from up join notification_routes r on r.tenant_id = up.id
    where r.enabled and (r.types is null or p_type = any (r.types))
      and array_position(array['info', 'low', 'medium', 'high', 'critical'], r.min_severity)
          <= array_position(array['info', 'low', 'medium', 'high', 'critical'], p_severity)
    order by r.id
$$;
