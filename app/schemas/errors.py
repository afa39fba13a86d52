"""The error body every 4xx/5xx answer carries, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(
        description="What went wrong, naming the field and the allowed range for invalid input."
    )
    detail: Any = Field(
        None, description="Structured detail: for invalid input a list of {loc, msg}."
    )


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
    out: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorBody, "description": text[code]} for code in codes
    }
    if 429 in out:
        out[429]["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before the limit allows another request.",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return out
