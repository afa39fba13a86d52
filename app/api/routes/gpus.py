"""GPU catalog endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.api.deps import OptionalCatalogDep, SessionDep
from app.schemas.catalog import ID_PATTERN, Platform, Segment, Vendor
from app.schemas.errors import responses
from app.schemas.gpu import Framework, GpuDetailRead, GpuFilters, GpuPage, GpuSort, SortOrder
from app.services import gpus as gpu_service

router = APIRouter(prefix="/api/v1/gpus", tags=["gpus"])


@router.get("", response_model=GpuPage, operation_id="list_gpus", responses=responses(422, 503))
def list_gpus(
    session: SessionDep,
    catalog: OptionalCatalogDep,
    vendor: Annotated[Vendor | None, Query(description="nvidia, amd or intel.")] = None,
    segment: Annotated[
        Segment | None, Query(description="consumer, workstation or datacenter.")
    ] = None,
    ecosystem: Annotated[
        Platform | None, Query(description="Software platform: cuda, rocm, oneapi or synapseai.")
    ] = None,
    framework: Annotated[
        Framework | None, Query(description="Only GPUs this framework officially supports.")
    ] = None,
    min_memory_gb: Annotated[
        float | None, Query(ge=0, le=100_000, description="Minimum device memory in GB.")
    ] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="Case-insensitive match on id or name."),
    ] = None,
    sort: Annotated[GpuSort, Query(description="Field to sort by.")] = GpuSort.id,
    order: Annotated[SortOrder, Query(description="Sort direction.")] = SortOrder.asc,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip.")] = 0,
) -> GpuPage:
    """List catalog GPUs, filtered, sorted and paginated."""
    filters = GpuFilters(
        vendor=vendor.value if vendor else None,
        segment=segment.value if segment else None,
        ecosystem=ecosystem.value if ecosystem else None,
        framework=framework.value if framework else None,
        min_memory_gb=min_memory_gb,
        q=q,
    )
    return gpu_service.list_gpus(
        session,
        filters,
        sort=sort.value,
        descending=order is SortOrder.desc,
        limit=limit,
        offset=offset,
        catalog_version=catalog.version if catalog else None,
    )


@router.get(
    "/{gpu_id}",
    response_model=GpuDetailRead,
    operation_id="get_gpu",
    responses=responses(404, 422, 503),
)
def get_gpu(
    session: SessionDep,
    gpu_id: Annotated[str, Path(max_length=80, pattern=ID_PATTERN, description="Catalog id.")],
) -> GpuDetailRead:
    """One GPU in full: spec, sources, notes on derived figures, prices and measurements."""
    return gpu_service.get_gpu(session, gpu_id)
