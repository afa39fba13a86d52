"""Liveness and readiness answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(description="ok when the process is up.")
    version: str = Field(description="Service version.")


class Readiness(BaseModel):
    status: str = Field(description="ready or not_ready.")
    database: str = Field(description="ok or unreachable.")
    catalog_version: str | None = Field(
        description="Version (hash) of the catalog in the database."
    )
    catalog_gpus: int = Field(description="GPUs in the loaded catalog (count).")
    problems: list[str] = Field(description="Why it is not ready, one line each.")
