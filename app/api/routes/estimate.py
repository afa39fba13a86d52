"""Estimates: one model + workload on one hardware choice."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CatalogDep, OptionalSessionDep, RateLimit
from app.schemas.errors import responses
from app.schemas.estimate import EstimateRequest, EstimateResponse
from app.services.estimate import run_estimate

router = APIRouter(
    prefix="/api/v1", tags=["estimate"], responses=responses(404, 413, 422, 429, 503)
)


@router.post("/estimate", response_model=EstimateResponse, dependencies=[RateLimit])
def create_estimate(
    request: EstimateRequest, catalog: CatalogDep, session: OptionalSessionDep
) -> EstimateResponse:
    """Memory per GPU, fit, time, cost and energy for a model and workload on one GPU choice."""
    return run_estimate(request, catalog, session)
