"""Readiness: can the service answer requests that need the database and the catalog?"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.repositories import catalog_versions as versions_repo
from app.repositories import gpus as gpus_repo
from app.repositories import health as health_repo
from app.schemas.health import Readiness
from app.services.catalog import LoadedCatalog

log = logging.getLogger(__name__)


def check_readiness(session: Session, catalog: LoadedCatalog | None) -> Readiness:
    """Ready when the database answers and holds the catalog version this process loaded."""
    problems: list[str] = []
    database = "ok"
    gpu_count = 0
    try:
        health_repo.ping(session)
        gpu_count = gpus_repo.count(session)
        latest = versions_repo.latest(session)
    except SQLAlchemyError as exc:
        # The answer is public: it names the failure's kind, never the host, port, database
        # or user (the log has the driver's message for the operator).
        database = "unreachable"
        problems.append(f"database: unavailable ({type(exc).__name__})")
        log.warning("readiness: database check failed: %s", str(exc).splitlines()[0][:300])
        latest = None
    if catalog is None:
        problems.append("catalog: not loaded")
    elif database == "ok":
        if latest is None:
            problems.append(
                "catalog: never synced into this database (run `gpu-advisor catalog sync`)"
            )
        elif latest.version != catalog.version:
            problems.append(
                f"catalog: database holds version {latest.version}, files are {catalog.version}"
                " (run `gpu-advisor catalog sync`)"
            )
    return Readiness(
        status="ready" if not problems else "not ready",
        database=database,
        catalog_version=catalog.version if catalog else None,
        catalog_gpus=gpu_count,
        problems=problems,
    )
