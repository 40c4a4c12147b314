"""Commands to devices: queued by the API, sent by the dispatcher, closed by acknowledgements.

    queued ──send──▶ sent ──ack──▶ applied | rejected | failed   (the device's answer)
      │               │ ╰─no ack within the timeout─▶ sent again (backoff), up to N sends
      │               ╰─N sends, no ack──────────────▶ failed
      ╰───────────────┴─past `expires`, no ack───────▶ expired
      ╰───────────────┴─a newer command of its type──▶ cancelled
    failed | expired ──a late `applied` ack──▶ applied

`params.py` checks commands, `targets.py` selects devices, `service.py` queues and dispatches,
`delivery.py` and `encoding.py` put them on the wire (native, The Things Stack, ChirpStack),
`acks.py` applies devices' answers, `expiry.py` gives up on the unanswered, `history.py`
records every change.
"""
