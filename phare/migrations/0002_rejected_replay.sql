-- Rejected messages can be replayed once their cause is fixed (e.g. the device registered).
alter table rejected_messages add column replayed_at timestamptz;
-- Operators list what still waits for a fix.
create index rejected_pending_idx on rejected_messages (tenant_id, received_at desc)
    where replayed_at is null;
