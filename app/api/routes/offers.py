"""Rentable GPU instances (catalog/offers/)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import SessionDep
from app.schemas.catalog import ID_PATTERN
from app.schemas.errors import responses
from app.schemas.offers import OfferFilters, OfferPage
from app.services import offers as offer_service

router = APIRouter(prefix="/api/v1/offers", tags=["offers"])


@router.get("", response_model=OfferPage, operation_id="list_offers", responses=responses(422, 503))
def list_offers(
    session: SessionDep,
    gpu: Annotated[
        str | None, Query(max_length=80, pattern=ID_PATTERN, description="Catalog GPU id.")
    ] = None,
    provider: Annotated[
        str | None,
        Query(max_length=40, pattern=ID_PATTERN, description="Provider id, e.g. aws, lambda."),
    ] = None,
    min_gpus: Annotated[
        int | None, Query(ge=1, le=1024, description="Fewest GPUs per instance.")
    ] = None,
    max_gpus: Annotated[
        int | None, Query(ge=1, le=1024, description="Most GPUs per instance.")
    ] = None,
    max_usd_per_gpu_hour: Annotated[
        float | None,
        Query(gt=0, le=10_000, description="Highest on-demand price per GPU-hour, USD."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip.")] = 0,
) -> OfferPage:
    """Dated instance offers, cheapest per GPU-hour first, filtered and paginated."""
    filters = OfferFilters(
        gpu=gpu,
        provider=provider,
        min_gpus=min_gpus,
        max_gpus=max_gpus,
        max_usd_per_gpu_hour=max_usd_per_gpu_hour,
    )
    return offer_service.list_offers(session, filters, limit=limit, offset=offset)
