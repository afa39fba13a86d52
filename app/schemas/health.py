"""Liveness and readiness answers."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    status: str
    database: str
    catalog_version: str | None
    catalog_gpus: int
    problems: list[str]
