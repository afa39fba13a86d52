"""Recommendations: the whole catalog ranked for one job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from app.api.deps import (
    CatalogDep,
    ComputeDep,
    RateLimit,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
)
from app.schemas.errors import responses
from app.schemas.recommend import RECOMMEND_EXAMPLES, RecommendRequest, RecommendResponse
from app.services import saved_results

router = APIRouter(prefix="/api/v1", tags=["recommend"])


# OpenAPI links: a client (and schemathesis' stateful phase) can follow the saved id.
SAVED_LINK = {
    "GetSavedRecommendation": {
        "operationRef": "#/paths/~1api~1v1~1recommendations~1{recommendation_id}/get",
        "parameters": {"recommendation_id": "$response.body#/id"},
        "description": "The saved answer (null id: too large to keep).",
    }
}


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    dependencies=[RateLimit],
    operation_id="recommend",
    responses={
        **responses(413, 422, 429, 503),
        200: {"description": "The ranking, saved", "links": SAVED_LINK},
    },
)
async def create_recommendation(
    request: Annotated[RecommendRequest, Body(openapi_examples=RECOMMEND_EXAMPLES)],
    catalog: CatalogDep,
    factory: SessionFactoryDep,
    compute: ComputeDep,
) -> RecommendResponse:
    """Rank every catalog GPU for a model and workload under constraints; the answer is saved."""
    return await compute.run(saved_results.recommend_and_save, factory, request, catalog)


@router.get(
    "/recommendations/{recommendation_id}",
    response_model=RecommendResponse,
    operation_id="get_recommendation",
    responses=responses(404, 422, 503),
)
def get_recommendation(
    session: SessionDep,
    settings: SettingsDep,
    recommendation_id: Annotated[
        str, Path(min_length=4, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    ],
) -> RecommendResponse:
    """A saved recommendation, exactly as it was answered."""
    return saved_results.get_saved(session, recommendation_id, settings)[1]
