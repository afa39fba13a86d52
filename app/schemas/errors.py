"""The error body every 4xx/5xx answer carries, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    error: str
    detail: Any = None


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses."""
    text = {
        401: "Missing, malformed, unknown or revoked bearer token",
        404: "Not found",
        409: "Conflict (e.g. a probe run is already running)",
        413: "Request body too large",
        422: "Invalid input: the message names the field and the allowed range",
        429: "Rate limit exceeded",
        503: "Database unavailable",
    }
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}
