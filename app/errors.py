"""One error family carrying its HTTP status, and the handlers that render it as JSON."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class AdvisorError(Exception):
    """Base of every error the service raises on purpose; rendered as {"error", "detail"}."""

    status_code = 500

    def __init__(
        self,
        message: str,
        *,
        detail: Any = None,
        status_code: int | None = None,
        fields: Sequence[str] = (),
    ):
        super().__init__(message)
        self.message = message
        # The request fields the error is about, dotted ("workload.global_batch"): the web form
        # shows the message beside each of them; the JSON detail gets one `loc` per field.
        self.fields = tuple(fields)
        if detail is None and self.fields:
            detail = [{"loc": ["body", *f.split(".")], "msg": message} for f in self.fields]
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code


class NotFoundError(AdvisorError):
    status_code = 404


class ConflictError(AdvisorError):
    status_code = 409


class UnauthorizedError(AdvisorError):
    status_code = 401


class InvalidInputError(AdvisorError):
    """Input that passed the schema but is still impossible (e.g. heads not dividing hidden)."""

    status_code = 422


class ServiceUnavailableError(AdvisorError):
    status_code = 503


class ProbeUnavailableError(ServiceUnavailableError):
    pass


class ProbeFailedError(AdvisorError):
    status_code = 502


class CatalogError(AdvisorError):
    """The catalog files are invalid; raised at start-up, so the app refuses to start."""

    status_code = 500


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def format_validation_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line per error: `query.vendor: Input should be 'nvidia', 'amd' or 'intel'`."""
    return "; ".join(f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', '')}" for e in errors)


def _wants_html(request: Request) -> bool:
    """Pages (not /api) asked for by a browser get an HTML error page."""
    path = request.url.path
    return not path.startswith(
        ("/api/", "/healthz", "/readyz")
    ) and "text/html" in request.headers.get("accept", "")


async def _advisor_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdvisorError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    templates = getattr(request.app.state, "templates", None)
    if templates is not None and _wants_html(request):
        response: Response = templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "message": exc.message},
            status_code=exc.status_code,
        )
        return response
    return JSONResponse(
        {"error": exc.message, "detail": exc.detail}, status_code=exc.status_code, headers=headers
    )


async def _validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse(
        {
            "error": "invalid request: " + format_validation_errors(exc.errors()),
            "detail": errors,
        },
        status_code=422,
    )


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    """Framework errors (404 for an unknown path, 405, a body that cannot be parsed: 400) in
    the same {error, detail} shape as ours."""
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else f"HTTP {exc.status_code}"
    if exc.status_code == 400 and "parsing the body" in message:
        message = "the request body cannot be parsed (malformed or nested too deeply)"
    error = AdvisorError(message, status_code=exc.status_code)
    response = await _advisor_error_handler(request, error)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _database_error_handler(request: Request, exc: Exception) -> Response:
    """Any database failure (down, unreachable, pool exhausted, schema missing, timed out): 503
    in the documented shape (readiness fails too), never a 500. A value the database cannot
    store (DataError, e.g. a NUL character in PostgreSQL text) is the caller's: 422."""
    if isinstance(exc, DataError):
        log.warning("database refused a value: %s", type(exc.orig).__name__)
        return await _advisor_error_handler(
            request, InvalidInputError("the request holds a value the database cannot store")
        )
    log.error("database error: %s", type(exc).__name__)
    return await _advisor_error_handler(
        request, ServiceUnavailableError("the database is unavailable; try again shortly")
    )


async def _unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Anything else: 500 in the documented shape, the traceback in the log, none to the client."""
    log.error("unhandled %s", type(exc).__name__, exc_info=exc)
    return JSONResponse({"error": "internal error", "detail": None}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one AdvisorError handler and the renderers that give every 4xx/5xx the
    {error, detail} shape."""
    app.add_exception_handler(AdvisorError, _advisor_error_handler)
    app.add_exception_handler(SQLAlchemyError, _database_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _unexpected_error_handler)
