"""The HTTP API application: `create_app(settings)` wires the routers under `/api/v1`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import phare
from alerts.stream import Broadcaster
from api import errors
from api.routes import alerts as alert_routes
from api.routes import (
    audit,
    commands,
    device_import,
    devices,
    events,
    exports,
    health,
    jobs,
    keys,
    kpis,
    lighting,
    partners,
    readings,
    rejected,
    schedules,
    tenants,
    users,
)
from api.routes import cap as cap_routes
from api.routes import stream as stream_routes
from dashboards.officials import routes as officials_pages
from phare.db import make_pool
from phare.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """The API for `settings`; its connection pool lives as long as the app runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # As the API's own role (PHARE_API_DATABASE_URL), not the tables' owner: row-level
        # security confines every request to its key's tenants (api/deps.py sets the scope).
        pool = make_pool(settings.model_copy(update={"database_url": settings.api_database()}))
        # Without waiting: the API starts (and /health says so) while the database is away.
        pool.open(wait=False)
        app.state.pool = pool
        # The live stream's one LISTEN connection, opened with its first client.
        app.state.broadcaster = Broadcaster(settings, settings.api_database().get_secret_value())
        try:
            yield
        finally:
            await app.state.broadcaster.close()
            await asyncio.to_thread(pool.close)

    app = FastAPI(
        title="Phare",
        version=phare.__version__,
        summary="IoT telemetry for French local authorities: devices, readings, rejections.",
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)

    v1 = APIRouter(prefix=API_PREFIX)
    for module in (health, tenants, devices, readings, rejected, jobs, users, keys, partners,
                   audit, commands, alert_routes,
                   stream_routes, cap_routes, exports, kpis, device_import, events, lighting,
                   schedules):
        v1.include_router(module.router)
    app.include_router(v1)
    # The officials' pages (/elus/{tenant}), in French, outside the versioned API.
    officials_pages.mount(app)
    return app
