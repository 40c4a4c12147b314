"""Simulated devices of the four families, and the runner that registers and publishes them.

A device is a `SimDevice` (`base.py`): its registration body (`spec`), and `step(t)`, the
messages it publishes at simulated time t, built from `devices.messages` so that what a
simulator emits is exactly what ingest decodes. `fleet.build_fleet` makes a seeded fleet
located in real communes; `runner.register` and `runner.run` put it on the API and the broker.
"""
