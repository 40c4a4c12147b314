-- Ground truth of simulated runs: every fault a simulator injected, labelled on the device
-- that shows it, so that analytics (alerts, detectors) can be scored against it.
-- `phare simulate` writes one run's labels; the same labels go to a JSON Lines file.
create table ground_truth (
    id          bigint generated always as identity primary key,
    run_id      uuid not null,           -- one `phare simulate` run; scoring picks a run
    scenario    text not null,
    seed        bigint not null,
    -- tenant_id on the row, as on every tenant-owned table, for row-level security.
    tenant_id   integer not null references tenants (id),
    device_id   text not null,           -- the device's id within its tenant (contract §1.1)
    type        text not null check (type ~ '^[a-z][a-z0-9_]{0,62}$'),
    starts_at   timestamptz not null,
    ends_at     timestamptz check (ends_at is null or ends_at >= starts_at),  -- null: still on
    params      jsonb not null default '{}',  -- what was injected: leak flow, fire or not, ...
    created_at  timestamptz not null default now()
);
-- Scoring matches an alert (tenant, device, time) with the labels of that device around
-- that time, and lists a tenant's labels over a period; leading with tenant_id also serves
-- row-level security's filter. Unique, so that storing a run's labels again adds nothing.
create unique index ground_truth_device_idx
    on ground_truth (tenant_id, device_id, starts_at, type, run_id);
