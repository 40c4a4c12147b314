"""The HTTP API application: `create_app(settings)` wires the routers under `/api/v1`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

import phare
from api import errors
from api.routes import devices, health, readings, rejected, tenants
from phare.db import make_pool
from phare.settings import Settings

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    """The API for `settings`; its connection pool lives as long as the app runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = make_pool(settings)
        # Without waiting: the API starts (and /health says so) while the database is away.
        pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
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
    for module in (health, tenants, devices, readings, rejected):
        v1.include_router(module.router)
    app.include_router(v1)
    return app
