"""The live stream: Server-Sent Events of alerts and readings, scoped by the API key.

    GET /api/v1/stream?types=alerts,readings      (Authorization: Bearer <key>)

    event: ready     data: {"types": [...]}                         once, when listening
    event: alert     id: <transition id>   data: {"event": "opened", "transition_id": …,
                                                  "alert": {…as GET /alerts…}}
    event: reading   data: {"tenant", "device_id", "metric", "value", "ts"}
    event: overflow  the client fell too far behind: the stream ends (reconnect, re-read)
    `: keep-alive` comments every 15 s

Alerts are every transition (opened, reopened, severity_raised, escalated, acknowledged,
resolved) of the key's tenants; readings are the hazard and battery readings the rules engine
sees, bounded per batch. The stream holds no database connection of the pool: one listener
per API process serves every client (alerts/stream.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from alerts.stream import STREAM_TYPES, Broadcaster, Subscription, sse
from api.deps import get_pool
from api.errors import invalid
from phare.tenancy import Permission, Principal, principal_for_key

router = APIRouter(tags=["stream"])

KEEPALIVE_S = 15.0
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer phk_…`")


def _principal(request: Request, key: str) -> Principal | None:
    with get_pool(request).connection() as conn:
        return principal_for_key(conn, key)


async def stream_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The key's principal, looked up on a pooled connection given back at once."""
    if credentials is None or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "an API key is required: send "
                            "'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"})
    principal = await asyncio.to_thread(_principal, request, credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    if not principal.can(Permission.READ_DATA):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this key cannot read data")
    return principal


def broadcaster(request: Request) -> Broadcaster:
    b: Broadcaster = request.app.state.broadcaster
    return b


async def _disconnected(request: Request) -> None:
    """Returns when the client goes away (uvicorn tells it as an `http.disconnect`)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _events(request: Request, b: Broadcaster, sub: Subscription,
                  types: list[str]) -> AsyncIterator[bytes]:
    # Watched here: with ASGI 2.4 servers Starlette learns of a disconnection only when a
    # write fails, and an idle stream would hold its task until the next keep-alive.
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        yield b"retry: 3000\n\n"
        yield sse("ready", orjson.dumps({"types": types}).decode())
        while True:
            item = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({item, gone}, timeout=KEEPALIVE_S,
                                         return_when=asyncio.FIRST_COMPLETED)
            if item not in done:
                item.cancel()
                if gone in done:
                    return
                yield b": keep-alive\n\n"
                continue
            event, data, event_id = item.result()
            yield sse(event, data, event_id)
            if sub.overflowed:
                yield sse("overflow", orjson.dumps({"detail": "trop d'événements en attente : "
                                                    "reconnectez-vous"}).decode())
                return
    finally:
        gone.cancel()
        b.unsubscribe(sub)


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "a stream of Server-Sent Events"}})
async def stream(
    request: Request,
    principal: Annotated[Principal, Depends(stream_principal)],
    b: Annotated[Broadcaster, Depends(broadcaster)],
    types: Annotated[str, Query(description="comma-separated: alerts, readings")] = "alerts",
) -> StreamingResponse:
    """Alerts (and, on request, live readings) of the key's tenants as they happen."""
    wanted = [t.strip() for t in types.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in STREAM_TYPES]
    if unknown or not wanted:
        raise invalid("query", "types", f"must list some of: {', '.join(STREAM_TYPES)}", types)
    sub = await b.subscribe(principal.scope, {STREAM_TYPES[t] for t in wanted})
    return StreamingResponse(_events(request, b, sub, wanted), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
