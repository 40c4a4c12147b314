"""`GET /health`: whether the database and the broker answer (no key needed)."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from psycopg_pool import ConnectionPool

import phare
from api.deps import get_pool, get_settings
from api.models import HealthPublic
from phare.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

DATABASE_TIMEOUT_S = 2.0
BROKER_TIMEOUT_S = 2.0


def database_ok(pool: ConnectionPool) -> bool:
    """Whether a pooled connection answers `select 1` within the timeout."""
    try:
        with pool.connection(timeout=DATABASE_TIMEOUT_S) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any failure means "unavailable"; the reason goes to the log
        log.warning("health: database unavailable: %s", exc)
        return False
    return True


def broker_ok(host: str, port: int) -> bool:
    """Whether the broker accepts a TCP connection within the timeout."""
    try:
        socket.create_connection((host, port), timeout=BROKER_TIMEOUT_S).close()
    except OSError as exc:
        log.warning("health: broker %s:%s unreachable: %s", host, port, exc)
        return False
    return True


@router.get(
    "/health",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "the database or the broker is down"}},
)
async def health(
    pool: Annotated[ConnectionPool, Depends(get_pool)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JSONResponse:
    """200 when the database and the broker both answer, 503 (`degraded`) otherwise."""
    db_up, broker_up = await asyncio.gather(
        asyncio.to_thread(database_ok, pool),
        asyncio.to_thread(broker_ok, settings.mqtt_host, settings.mqtt_port),
    )
    body = HealthPublic(
        status="ok" if db_up and broker_up else "degraded",
        database="ok" if db_up else "unavailable",
        broker="ok" if broker_up else "unreachable",
        version=phare.__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if db_up and broker_up else 503)
