"""Estimates: one model + workload on one hardware choice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.api.deps import CatalogDep, ComputeDep, OptionalSessionDep, RateLimit
from app.schemas.errors import responses
from app.schemas.estimate import ESTIMATE_EXAMPLES, EstimateRequest, EstimateResponse
from app.services.estimate import run_estimate

router = APIRouter(prefix="/api/v1", tags=["estimate"])


@router.post(
    "/estimate",
    response_model=EstimateResponse,
    dependencies=[RateLimit],
    operation_id="estimate",
    responses=responses(404, 413, 422, 429, 503),
)
async def create_estimate(
    request: Annotated[EstimateRequest, Body(openapi_examples=ESTIMATE_EXAMPLES)],
    catalog: CatalogDep,
    session: OptionalSessionDep,
    compute: ComputeDep,
) -> EstimateResponse:
    """Memory per GPU, fit, time, cost and energy for a model and workload on one GPU choice."""
    return await compute.run(run_estimate, request, catalog, session)
