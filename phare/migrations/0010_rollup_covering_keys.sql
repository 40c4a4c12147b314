-- The rollups' primary keys carry avg and count (INCLUDE): the readings API reads a device's
-- buckets (`sum(avg * count), sum(count)` by bucket, api/queries/readings.py) from the index
-- alone. Without them each 30-day hourly answer visited one heap page per day of its device
-- (the rollup job writes all devices of a day together): ~60 random pages instead of ~5
-- index pages, which was most of the query's time once a syndicate's rollups outgrow memory
-- (bench/readings.py: 21.6 M hourly rows). Same key, same uniqueness; one index, not two.
alter table readings_hourly drop constraint readings_hourly_pkey;
alter table readings_hourly add primary key (device_uid, metric, bucket) include (avg, count);
alter table readings_daily drop constraint readings_daily_pkey;
alter table readings_daily add primary key (device_uid, metric, bucket) include (avg, count);
