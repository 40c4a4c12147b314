"""The officials' pages: a tenant's key figures and map in French, served by Phare at `/elus/`."""
