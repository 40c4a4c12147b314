-- Commands to devices (commands/): delivery attempts, groups, priorities, and the history of
-- every state change. The `commands` table itself dates from 0001.
--
--   queued -> sent -> applied | rejected | failed   (the device's acknowledgement)
--   queued | sent  -> expired                        (its `expires` passed without an ack)
--   sent           -> failed                         (no ack after the last attempt)
--   queued | sent  -> cancelled                      (a newer command of the same type replaced it)

-- What one request asked of many devices: every cabinet of a tenant, of a zone, a list of ids,
-- or an emergency force-on. Its commands point to it.
create table command_groups (
    id           uuid primary key default gen_random_uuid(),
    tenant_id    integer not null references tenants (id),  -- the tenant the selector names
    type         text not null,             -- a command type, or 'force_on'
    params       jsonb not null default '{}',
    selector     jsonb not null,            -- what was asked, as the client sent it
    source       text not null,             -- api | force_on
    priority     smallint not null,
    reason       text,                      -- an operator's words (force-on: who asked, why)
    requested_by integer references api_keys (id),
    created_at   timestamptz not null
);
create index command_groups_tenant_idx on command_groups (tenant_id, created_at desc);

-- The status `cancelled` is new: a command replaced by a newer one of the same type (the
-- dispatcher must never resend an old switch-off after an emergency switch-on).
alter table commands drop constraint commands_status_check;
alter table commands add constraint commands_status_check
    check (status in ('queued', 'sent', 'applied', 'rejected', 'failed', 'expired', 'cancelled'));

alter table commands
    add column attempts        integer not null default 0,  -- sends so far
    add column next_attempt_at timestamptz,                 -- when the dispatcher acts on it next
    add column last_error      text,                        -- the last delivery problem, for people
    add column group_id        uuid references command_groups (id),
    add column source          text not null default 'api',
    add column priority        smallint not null default 0, -- higher first; force-on is highest
    add column requested_by    integer references api_keys (id),
    add column updated_at      timestamptz;

-- The dispatcher's question, every few seconds: which pending commands are due?
create index commands_due_idx on commands (next_attempt_at) where status in ('queued', 'sent');
-- The API lists a tenant's commands, newest first, and a group's commands.
create index commands_tenant_idx on commands (tenant_id, created_at desc);
create index commands_group_idx on commands (group_id) where group_id is not null;

-- Every state change of a command, and every send: its history for operators.
create table command_events (
    id          bigint generated always as identity primary key,
    command_id  uuid not null references commands (id) on delete cascade,
    tenant_id   integer not null,
    at          timestamptz not null,
    event       text not null,   -- queued, sent, resent, delivery_error, applied, rejected,
                                 -- failed, expired, cancelled, ack_ignored
    status      text not null,   -- the command's status after the event
    attempt     integer not null default 0,
    detail      jsonb not null default '{}'
);
create index command_events_command_idx on command_events (command_id, at, id);
