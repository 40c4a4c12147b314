"""Ingest: MQTT messages in, validated rows in TimescaleDB out, rejects kept with a reason."""
