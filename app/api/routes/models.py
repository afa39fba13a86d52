"""Model presets."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CatalogDep
from app.schemas.catalog import CatalogModel
from app.schemas.errors import responses
from app.services import catalog as catalog_service

router = APIRouter(prefix="/api/v1/models", tags=["models"])


@router.get(
    "", response_model=list[CatalogModel], operation_id="list_models", responses=responses(503)
)
def list_models(catalog: CatalogDep) -> list[CatalogModel]:
    """Model presets with their architecture, published parameter count and sources."""
    return catalog_service.list_models(catalog)
