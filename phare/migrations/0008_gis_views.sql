-- Views a GIS team connects to (QGIS, ArcGIS, a WMS/WFS server): the devices and their active
-- alerts as PostGIS geometries in WGS 84 (EPSG:4326), which desktop GIS read directly.
--
-- security_invoker (PostgreSQL 15+): a view otherwise reads its tables with its owner's rights,
-- and the owner (`phare`) bypasses row-level security; with it, the policies of the tables
-- apply to whoever queries the view: `phare_api` sees only the tenants of its scope, and a
-- role with no scope set sees nothing.
--
-- A read-only role for a GIS team. Not `phare.tenant_ids` on the role: a session chooses that
-- setting itself (set_config), so it is a boundary for the API, which runs only its own SQL,
-- not for a role that runs any SQL. Give the team views of its tenants alone, owned by the
-- schema's owner and filtered by slug, and nothing else (run by an administrator; `phare` below
-- stands for this schema):
--
--   create role sig_saint_flour login password '…';
--   grant usage on schema phare to sig_saint_flour;
--   create view phare.sig_saint_flour_devices with (security_barrier) as
--       select * from phare.gis_devices where tenant in ('saint-flour', 'saint-flour-ville');
--   create view phare.sig_saint_flour_alerts with (security_barrier) as
--       select * from phare.gis_open_alerts where tenant in ('saint-flour', 'saint-flour-ville');
--   grant select on phare.sig_saint_flour_devices, phare.sig_saint_flour_alerts
--       to sig_saint_flour;
--
-- (security_barrier: the filter runs before any function the team's query applies, so no
-- function can see the other rows.)

-- Devices, with their point (null when registered without a location).
create view gis_devices with (security_invoker = true) as
select d.uid,
       t.slug as tenant,
       d.id as device_id,
       d.kind,
       d.name,
       d.model,
       d.last_seen,
       d.online,
       d.location::geometry(Point, 4326) as geom
from devices d
join tenants t on t.id = d.tenant_id;

comment on view gis_devices is
    'Phare devices as points in WGS 84 (EPSG:4326); row-level security applies (security_invoker).';

-- Active alerts (open or acknowledged), at the point of their device.
create view gis_open_alerts with (security_invoker = true) as
select a.id,
       t.slug as tenant,
       d.id as device_id,
       d.kind as device_kind,
       a.type,
       a.severity,
       a.status,
       a.opened_at,
       a.last_seen_at,
       a.message,
       d.location::geometry(Point, 4326) as geom
from alerts a
join devices d on d.uid = a.device_uid
join tenants t on t.id = a.tenant_id
where a.status <> 'resolved';

comment on view gis_open_alerts is
    'Active Phare alerts (open or acknowledged) at their device, WGS 84; row-level security applies.';

do $$
begin
    if exists (select 1 from pg_roles where rolname = 'phare_api') then
        grant select on gis_devices, gis_open_alerts to phare_api;
    end if;
end $$;
