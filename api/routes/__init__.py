"""One router per resource, wired by `api.main`."""
