"""Liveness and readiness probes for orchestrators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app import __version__
from app.api.deps import OptionalCatalogDep, SessionDep
from app.schemas.health import Health, Readiness
from app.services.health import check_readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, operation_id="healthz")
async def healthz() -> Health:
    """The process is up (checks nothing else). Async, so it answers on the event loop even when
    every worker thread is busy ranking; it never touches the database."""
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="readyz",
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
def readyz(session: SessionDep, catalog: OptionalCatalogDep) -> JSONResponse:
    """Ready to serve: the database answers and holds the loaded catalog (503 otherwise)."""
    readiness = check_readiness(session, catalog)
    status = 200 if readiness.status == "ready" else 503
    return JSONResponse(readiness.model_dump(mode="json"), status_code=status)
