"""Catalog reads: filtered GPU lists and one GPU in full."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.models import Gpu, GpuSource, Price
from app.repositories import gpus as gpus_repo
from app.repositories import probes as probes_repo
from app.schemas.catalog import FieldNote, Frameworks, PeakTflops
from app.schemas.gpu import (
    EcosystemRead,
    GpuDetailRead,
    GpuFilters,
    GpuPage,
    GpuRead,
    InterconnectRead,
    PriceRead,
    SourceRead,
)
from app.services.offers import offers_for_gpu


def _source(source: GpuSource) -> SourceRead:
    return SourceRead(
        title=source.title,
        url=source.url,
        retrieved=source.retrieved_on,
        fields=source.fields,
        where=source.location,
    )


def _price(price: Price) -> PriceRead:
    return PriceRead(
        kind=price.kind,
        provider=price.provider,
        instance=price.instance,
        gpus_per_instance=price.gpus_per_instance,
        region=price.region,
        instance_usd_per_hour=price.instance_usd_per_hour,
        usd_per_gpu_hour=price.usd_per_gpu_hour,
        purchase_usd=price.purchase_usd,
        observed=price.observed,
        source=SourceRead(
            title=price.source_title, url=price.source_url, retrieved=price.source_retrieved_on
        ),
        note=price.note,
    )


def _fields(row: Gpu) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "vendor": row.vendor,
        "segment": row.segment,
        "architecture": row.architecture,
        "form_factor": row.form_factor,
        "release_date": row.release_date,
        "memory_gb": row.memory_gb,
        "memory_type": row.memory_type,
        "memory_bandwidth_gb_s": row.memory_bandwidth_gb_s,
        "tdp_w": row.tdp_w,
        "peak_tflops": PeakTflops(
            fp64=row.fp64_dense_tflops,
            fp64_matrix=row.fp64_matrix_dense_tflops,
            fp32=row.fp32_dense_tflops,
            tf32=row.tf32_dense_tflops,
            bf16=row.bf16_dense_tflops,
            fp16=row.fp16_dense_tflops,
            fp8=row.fp8_dense_tflops,
            int8=row.int8_dense_tops,
            fp4=row.fp4_dense_tflops,
        ),
        "pcie_gen": row.pcie_gen,
        "interconnect": InterconnectRead(
            type=row.interconnect_type,
            bandwidth_gb_s=row.interconnect_bandwidth_gb_s,
            note=row.interconnect_note,
        )
        if row.interconnect_type
        else None,
        "launch_price_usd": row.launch_price_usd,
        "ecosystem": EcosystemRead(
            platform=row.ecosystem_platform,
            compute_capability=row.compute_capability,
            rocm_supported=row.rocm_supported,
            frameworks=Frameworks(
                pytorch=row.supports_pytorch,
                jax=row.supports_jax,
                tensorflow=row.supports_tensorflow,
            ),
        ),
        "sources": [_source(s) for s in row.sources],
    }


# Pages of the catalog change only when a new catalog version is synced, so they are kept per
# (database, catalog version, query): a repeated list costs a dictionary lookup, not ~100 rows.
_PAGE_CACHE: OrderedDict[tuple[object, ...], GpuPage] = OrderedDict()
_PAGE_CACHE_SIZE = 256


def list_gpus(
    session: Session,
    filters: GpuFilters,
    *,
    sort: str,
    descending: bool,
    limit: int,
    offset: int,
    catalog_version: str | None = None,
) -> GpuPage:
    """A page of catalog GPUs matching the filters, sorted (cached per catalog version)."""
    key = (
        str(session.get_bind().engine.url),
        catalog_version,
        filters,
        sort,
        descending,
        limit,
        offset,
    )
    if catalog_version is not None and key in _PAGE_CACHE:
        _PAGE_CACHE.move_to_end(key)
        return _PAGE_CACHE[key]
    page = _query_page(
        session, filters, sort=sort, descending=descending, limit=limit, offset=offset
    )
    if catalog_version is not None:
        _PAGE_CACHE[key] = page
        while len(_PAGE_CACHE) > _PAGE_CACHE_SIZE:
            _PAGE_CACHE.popitem(last=False)
    return page


def _query_page(
    session: Session, filters: GpuFilters, *, sort: str, descending: bool, limit: int, offset: int
) -> GpuPage:
    rows, total = gpus_repo.list_page(
        session, filters, sort=sort, descending=descending, limit=limit, offset=offset
    )
    return GpuPage(
        items=[GpuRead.model_validate(_fields(r)) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def get_gpu(session: Session, gpu_id: str) -> GpuDetailRead:
    """One GPU with sources, notes and prices; NotFoundError for an unknown id."""
    row = gpus_repo.get(session, gpu_id)
    if row is None:
        raise NotFoundError(
            f"no GPU with id '{gpu_id}'",
            detail={"hint": "GET /api/v1/gpus?q=<part of the name> lists the ids"},
        )
    return GpuDetailRead.model_validate(
        {
            **_fields(row),
            "memory_bus_width_bits": row.memory_bus_width_bits,
            "notes": [FieldNote.model_validate(n) for n in row.notes],
            "prices": [_price(p) for p in row.prices],
            "measurements": probes_repo.results_for_gpu_as_dicts(session, gpu_id),
            "offers": offers_for_gpu(session, gpu_id),
        }
    )
