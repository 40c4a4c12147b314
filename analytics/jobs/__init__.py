"""The scheduled jobs, one module each: a `JOB` (name, interval, function) that
`analytics/registry.py` lists."""
