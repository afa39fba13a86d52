"""Recommendations: the whole catalog ranked for one job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.api.deps import CatalogDep, RateLimit, SessionDep
from app.schemas.errors import responses
from app.schemas.recommend import RECOMMEND_EXAMPLES, RecommendRequest, RecommendResponse
from app.services import recommend as recommend_service

router = APIRouter(prefix="/api/v1", tags=["recommend"])


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    dependencies=[RateLimit],
    operation_id="recommend",
    responses=responses(413, 422, 429, 503),
)
def create_recommendation(
    request: Annotated[RecommendRequest, Body(openapi_examples=RECOMMEND_EXAMPLES)],
    catalog: CatalogDep,
    session: SessionDep,
) -> RecommendResponse:
    """Rank every catalog GPU for a model and workload under constraints; the answer is saved."""
    return recommend_service.recommend_and_save(session, request, catalog)


@router.get(
    "/recommendations/{recommendation_id}",
    response_model=RecommendResponse,
    operation_id="get_recommendation",
    responses=responses(404, 422, 503),
)
def get_recommendation(
    session: SessionDep,
    recommendation_id: Annotated[
        str, Path(min_length=4, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    ],
) -> RecommendResponse:
    """A saved recommendation, exactly as it was answered."""
    return recommend_service.get_saved(session, recommendation_id)[1]
