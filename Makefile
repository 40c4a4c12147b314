# Phare: the two commands of the README, and the developer's helpers.
.PHONY: setup demo test lint bench pictures clean

setup:            ## install and start everything Phare needs (idempotent)
	bash deploy/setup.sh

demo: setup       ## run the platform with simulated devices; Ctrl-C to stop
	.venv/bin/phare demo

test: setup       ## run the test suite against real PostgreSQL/TimescaleDB and Mosquitto
	.venv/bin/pytest

lint:             ## ruff and mypy
	.venv/bin/ruff check .
	.venv/bin/mypy

bench: setup      ## ingest throughput, end to end
	.venv/bin/python bench/ingest.py

pictures:         ## pictures of the Grafana dashboards from the demo's data (docs/images)
	.venv/bin/phare dashboards preview --out docs/images
