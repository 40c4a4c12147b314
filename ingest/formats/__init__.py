"""Message formats: one module each, registered in `FORMATS` (see `ingest/formats/base.py`)."""
