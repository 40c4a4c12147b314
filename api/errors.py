"""How errors reach a client: readable 422s, and database errors that never leak.

    RequestValidationError  -> 422 {"detail": "<sentence>", "errors": [...]}
                               (documented in OpenAPI as `ValidationErrorPublic`)
    psycopg.OperationalError (incl. PoolTimeout), DatabaseUnavailable
                            -> 503 {"detail": "database unavailable"}
    Conflict                -> 409 {"detail": "<what already exists>"}
    any other psycopg.Error -> 500 {"detail": "internal error"}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from phare.errors import DatabaseUnavailable, PhareError

log = logging.getLogger(__name__)

_SOURCES = {"body": "field", "query": "query parameter", "path": "path parameter",
            "header": "header"}


class InvalidInput(BaseModel):
    loc: list[str | int] = Field(description="where: body, query, path or header, then names",
                                 examples=[["query", "offset"]])
    msg: str = Field(examples=["Input should be greater than or equal to 0"])
    type: str = Field(examples=["greater_than_equal"])


class ValidationErrorPublic(BaseModel):
    """What a 422 answers: one readable sentence, and each invalid input."""

    detail: str = Field(examples=["Invalid request: query parameter 'offset': Input should be "
                                  "greater than or equal to 0."])
    errors: list[InvalidInput]


class Conflict(PhareError):
    """What a client asked to create already exists; the message says what."""


def invalid(source: str, name: str, message: str, value: Any = None) -> RequestValidationError:
    """A 422 about one input, worded like pydantic's own (raise it)."""
    return RequestValidationError(
        [{"type": "value_error", "loc": (source, name), "msg": message, "input": value}]
    )


def describe(errors: Sequence[Any]) -> str:
    """One sentence naming every invalid input and why."""
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            parts.append(f"the body is not valid JSON ({reason})" if reason else
                         "the body is not valid JSON")
            continue
        loc = [str(p) for p in err.get("loc", ())]
        source, rest = (loc[0], loc[1:]) if loc else ("body", [])
        label = _SOURCES.get(source, source)
        where = f"{label} '{'.'.join(rest)}'" if rest else "request body"
        msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "Invalid request: " + "; ".join(parts) + "."


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    brief = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
             for e in errors]
    return JSONResponse(status_code=422, content={"detail": describe(errors), "errors": brief})


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc)})


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable during %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(status_code=503, content={"detail": "database unavailable"})


async def _bad_value(request: Request, exc: Exception) -> JSONResponse:
    # Input that passed validation but that PostgreSQL cannot hold: a NUL character in a text,
    # a number beyond its types. The client's mistake, so a 422 saying so, never a 500.
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    log.info("value refused by the database during %s %s: %s", request.method,
             request.url.path, first)
    return JSONResponse(status_code=422, content={
        "detail": f"Invalid request: a value cannot be stored or compared ({first}).",
        "errors": []})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error during %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content={"detail": "internal error"})


def _document_422(app: FastAPI) -> None:
    """Makes the OpenAPI document declare the 422 body the handler above really sends.

    FastAPI documents every 422 as its own `HTTPValidationError` (`detail`: a list), which
    is not what clients get; the document is rewritten once, when first asked for.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, summary=app.summary,
                               description=app.description, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        model = ValidationErrorPublic.model_json_schema(
            ref_template="#/components/schemas/{model}")
        schemas.update(model.pop("$defs", {}))
        schemas[ValidationErrorPublic.__name__] = model
        ref = {"$ref": f"#/components/schemas/{ValidationErrorPublic.__name__}"}
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                response = operation.get("responses", {}).get("422")
                if response is not None:
                    response["content"] = {"application/json": {"schema": ref}}
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Registers the handlers above on the app, and documents its 422s."""
    _document_422(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(psycopg.DataError, _bad_value)
    app.add_exception_handler(psycopg.Error, _database_error)
