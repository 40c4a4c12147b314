"""Message formats: one module each, all with `decode(topic, payload, now) -> Decoded`."""
