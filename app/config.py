"""Configuration: one pydantic-settings class, read from ADVISOR_* environment variables."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting the service reads; the README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="ADVISOR_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'gpu_advisor.db'}",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://... in production.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token required by write endpoints (unset: writes refused).",
    )
    host: str = Field(default="127.0.0.1", description="Address uvicorn binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port uvicorn listens on.")
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    catalog_dir: Path = Field(
        default=PROJECT_ROOT / "catalog", description="Folder holding the catalog YAML files."
    )
    sync_catalog_on_start: bool = Field(
        default=True, description="Validate the catalog and sync it into the database at start-up."
    )
    probe_python: str = Field(
        default=sys.executable,
        description="Python interpreter (with JAX installed) that runs `python -m probes`.",
    )
    probe_timeout_s: float = Field(
        default=600.0, gt=0, le=86400, description="A probe run is killed after this many seconds."
    )
    probe_heartbeat_stale_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A running probe run whose heartbeat is older than this is marked interrupted.",
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    log_json: bool = Field(default=True, description="JSON log lines with a request id.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (none by default).",
    )
    max_body_bytes: int = Field(
        default=4_000_000,
        ge=1_000,
        le=100_000_000,
        description="Largest request body accepted (413 above).",
    )
    rate_limit: str = Field(
        default="120/minute",
        description="Per-client limit on estimate, recommend and probe-run writes.",
    )
    rate_limit_enabled: bool = Field(
        default=True, description="Turn the rate limit off (e.g. load tests)."
    )
    rate_limit_storage_uri: str = Field(
        default="memory://",
        description="`limits` storage: memory:// per process, or redis://host:6379.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by the replicas for rate limits (redis://host:6379/0); "
        "overrides ADVISOR_RATE_LIMIT_STORAGE_URI.",
    )
    auth_failure_limit: str = Field(
        default="10/minute",
        description="Per-client limit on requests with a wrong or missing token (429 past it).",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated proxy addresses whose X-Forwarded-For/-Proto is trusted "
        "(`serve --forwarded-allow-ips`); empty: none, the socket's peer is the client.",
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        max_length=200,
        description="Base URL share links are built from (https://advisor.example.org); unset: "
        "links are relative to the page, never taken from the Host header.",
    )
    compute_slots: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Recommendations and estimates computed at once per worker process (they "
        "are CPU-bound); more wait their turn without holding a thread.",
    )
    saved_results_days: int = Field(
        default=90,
        ge=0,
        le=36_500,
        description="Saved recommendations older than this are no longer served and "
        "`gpu-advisor saved prune` deletes them (0: keep forever).",
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests override with FastAPI dependency_overrides."""
    return Settings()
