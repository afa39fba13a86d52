"""Request ids, JSON logs, Prometheus metrics, security headers, body limits and rate limits.

All of it is installed on the app by `install(app, settings)` in the factory; nothing runs at
import time except defining the metric objects (prometheus_client registers them once per
process).
"""

from __future__ import annotations

import contextvars
import logging
import math
import secrets
import sys
import time
from typing import TextIO

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse, storage, strategies
from prometheus_fastapi_instrumentator import Instrumentator
from pythonjsonlogger.json import JsonFormatter
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


# Content Security Policy: every script, style and font comes from the app itself, no inline
# script or style anywhere (widths the pages compute are set from data attributes by app.js).
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
# Swagger UI at /docs bootstraps with an inline script and inline styles: that page only.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _AdvisorLogHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs (recognized, and replaced, on a second call)."""


def configure_logging(settings: Settings) -> None:
    """JSON lines on stderr, each with the request id (python-json-logger)."""
    handler = _AdvisorLogHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level"},
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, _AdvisorLogHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())


class RequestContextMiddleware:
    """A request id (the caller's X-Request-ID if sane, else a new one) on the response and in
    every log line, plus the security headers (pure ASGI: no per-request task or buffering)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        sane = 8 <= len(incoming) <= 64 and incoming.isascii() and incoming.isprintable()
        request_id = incoming if sane else secrets.token_hex(8)
        headers = dict(SECURITY_HEADERS)
        if scope.get("path") in DOCS_PATHS:
            headers["Content-Security-Policy"] = DOCS_CSP
        extra = [(b"x-request-id", request_id.encode())] + [
            (name.lower().encode(), value.encode()) for name, value in headers.items()
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in extra if k not in present
                ]
            await send(message)

        token = request_id_var.set(request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Refuse request bodies above `max_bytes` with 413, whether announced by Content-Length or
    streamed (pure ASGI, so the body is never buffered beyond the limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLargeError:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"error": f"request body larger than {self.max_bytes} bytes", "detail": None},
            status_code=413,
        )
        await response(scope, receive, send)


class _TooLargeError(Exception):
    pass


# The one bucket every expensive write shares (estimate, recommend from the API and the form,
# probe runs): a client cannot double its budget by switching between the page and the API.
WRITES_BUCKET = "writes"
AUTH_FAILURES_BUCKET = "auth-failures"


def client_address(request: Request) -> str:
    """The client as the socket sees it. uvicorn rewrites it from X-Forwarded-For only when the
    peer is in --forwarded-allow-ips (default: nobody), so a rotating header changes nothing."""
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """Per-client limits with the `limits` library (moving window), in memory per process or in
    Redis shared by all replicas (ADVISOR_REDIS_URL)."""

    def __init__(self, settings: Settings):
        self.enabled = settings.rate_limit_enabled
        self.limit = parse(settings.rate_limit)
        self.auth_failure_limit = parse(settings.auth_failure_limit)
        uri = settings.redis_url or settings.rate_limit_storage_uri
        self.storage = storage.storage_from_string(uri)
        self.window = strategies.MovingWindowRateLimiter(self.storage)

    def check(self, request: Request) -> None:
        """Count one expensive request against the client's shared bucket; 429 past the limit."""
        if not self.enabled:
            return
        if not self.window.hit(self.limit, WRITES_BUCKET, client_address(request)):
            raise RateLimitedError(
                f"rate limit exceeded: {self.limit} per client on estimate, recommend and "
                "probe runs together",
                retry_after_s=self._retry_after(self.limit, WRITES_BUCKET, request),
            )

    def check_auth_failures(self, request: Request) -> None:
        """Refuse a client that has failed authentication too often, before checking its token."""
        if not self.enabled:
            return
        client = client_address(request)
        if not self.window.test(self.auth_failure_limit, AUTH_FAILURES_BUCKET, client):
            raise RateLimitedError(
                f"too many failed token attempts: {self.auth_failure_limit} per client",
                retry_after_s=self._retry_after(
                    self.auth_failure_limit, AUTH_FAILURES_BUCKET, request
                ),
            )

    def record_auth_failure(self, request: Request) -> None:
        if self.enabled:
            self.window.hit(self.auth_failure_limit, AUTH_FAILURES_BUCKET, client_address(request))

    def _retry_after(self, limit: RateLimitItem, bucket: str, request: Request) -> int:
        """Seconds until the window frees a slot (at least 1)."""
        try:
            reset_at = self.window.get_window_stats(
                limit, bucket, client_address(request)
            ).reset_time
        except Exception:  # storage hiccup: fall back to the whole window
            return int(limit.get_expiry())
        return max(1, math.ceil(reset_at - time.time()))


class RateLimitedError(Exception):
    def __init__(self, message: str, retry_after_s: int = 60):
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


async def _rate_limited(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RateLimitedError)
    return JSONResponse(
        {"error": exc.message, "detail": {"retry_after_s": exc.retry_after_s}},
        status_code=429,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


def install(app: FastAPI, settings: Settings) -> None:
    """Middleware, limiter and /metrics on the app, in the order requests meet them."""
    app.state.rate_limiter = RateLimiter(settings)
    app.add_exception_handler(RateLimitedError, _rate_limited)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    Instrumentator(excluded_handlers=["/metrics", "/static/.*"]).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
