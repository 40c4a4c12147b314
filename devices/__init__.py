"""Devices: the catalogue of kinds, metrics and topics, the messages devices send, and simulators."""
