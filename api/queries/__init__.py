"""Database queries of the API: keyword-only functions that take a connection."""
