"""Export formats: CSV, GeoJSON (RFC 7946) and NGSI-LD entities (FIWARE Smart Data Models)."""
