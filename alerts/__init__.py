"""Alerts: from a device's event, reading or silence to an alert, its notifications, the live
stream and CAP 1.2 messages.

    ingest writer ─(same transaction)─► alert_inbox + NOTIFY phare_inbox      outbox.py
    rules engine (`phare alerts run`) ─► rules.py ─► lifecycle.py              engine.py
        lifecycle: alerts + alert_transitions + notification_log + cap_messages
                   + NOTIFY phare_alerts, in one transaction
    dispatcher (same process) ─► webhook / e-mail / MQTT, with retries        notify/
    API: GET /api/v1/stream (SSE), /alerts, /alerts/{id}/ack|resolve, /cap   stream.py, cap.py
    timers (`phare alerts run`, and `phare worker`'s alert_timers job):
        escalation of unacknowledged alerts, device_offline                   timers.py

An alert is active (open or acknowledged) until resolved; a device has at most one active
alert per type (a partial unique index). lifecycle.py documents occurrences, reopening and
escalation; rules.py what each event and reading means; cap.py the CAP mapping; texts.py
holds what operators read, in French and English. Analytics detectors raise and clear alerts
through `lifecycle.raise_alert` and `lifecycle.clear_alert`.
"""
