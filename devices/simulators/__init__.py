"""Simulated territories: devices of the four families, the world they share, their faults.

A scenario (`scenario.py`, YAML files in `scenarios/`, or `generate.py` for large ones)
describes a territory; `territory.build` makes its devices (`base.SimDevice` subclasses in
`lighting.py`, `water.py`, `hazard.py`, `building.py`) and what they share: the weather
(`weather.py`, `calendar_fr.py`), the water network (`leaks.py`) and rivers
(`hydrology.py`). `faults.py` plans and injects faults, `labels.py` writes them as ground
truth, `runner.py` registers and publishes, and `simulate.py` is `phare simulate`.
What a simulator emits is built from `devices.messages`, exactly what ingest decodes.
"""
