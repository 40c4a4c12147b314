"""GeoJSON (RFC 7946) features: WGS 84 [longitude, latitude], no `crs` member."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MEDIA_TYPE = "application/geo+json"
# 7 decimals: about a centimetre, more than any device's position is worth (RFC 7946 §11.2).
PRECISION = 7


def point(lat: float | None, lon: float | None) -> dict[str, Any] | None:
    """A Point in [lon, lat] order, or None (a feature without geometry) when unplaced."""
    if lat is None or lon is None:
        return None
    return {"type": "Point", "coordinates": [round(lon, PRECISION), round(lat, PRECISION)]}


def feature(feature_id: str, lat: float | None, lon: float | None,
            properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "id": feature_id, "geometry": point(lat, lon),
            "properties": dict(properties)}


def collection(features: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}
