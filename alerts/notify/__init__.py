"""Notifications of alert transitions: routing (who), the dispatcher (when, with retries),
and one module per channel (how): `webhook`, `email`, `mqtt`."""
