"""Queries on gpus (with their sources and prices)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, text
from sqlalchemy.orm import Session, selectinload

from app.models import Gpu
from app.schemas.gpu import GpuFilters

# Stable key for pg_advisory_xact_lock: replicas starting together sync the catalog one at a time.
_CATALOG_SYNC_LOCK_KEY = 0x6770_7561_6476


SORTABLE_COLUMNS = {
    "id": Gpu.id,
    "name": Gpu.name,
    "vendor": Gpu.vendor,
    "release_date": Gpu.release_date,
    "memory_gb": Gpu.memory_gb,
    "memory_bandwidth_gb_s": Gpu.memory_bandwidth_gb_s,
    "bf16_tflops": Gpu.bf16_dense_tflops,
    "fp16_tflops": Gpu.fp16_dense_tflops,
    "fp32_tflops": Gpu.fp32_dense_tflops,
    "fp8_tflops": Gpu.fp8_dense_tflops,
    "tdp_w": Gpu.tdp_w,
}

_FRAMEWORK_COLUMNS = {
    "pytorch": Gpu.supports_pytorch,
    "jax": Gpu.supports_jax,
    "tensorflow": Gpu.supports_tensorflow,
}


def _conditions(filters: GpuFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.vendor:
        conds.append(Gpu.vendor == filters.vendor)
    if filters.segment:
        conds.append(Gpu.segment == filters.segment)
    if filters.ecosystem:
        conds.append(Gpu.ecosystem_platform == filters.ecosystem)
    if filters.framework:
        conds.append(_FRAMEWORK_COLUMNS[filters.framework].is_(True))
    if filters.min_memory_gb is not None:
        conds.append(Gpu.memory_gb >= filters.min_memory_gb)
    if filters.q:
        # Escape LIKE wildcards so a user's "%" or "_" matches literally.
        term = filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{term}%"
        conds.append(
            or_(
                func.lower(Gpu.id).like(pattern, escape="\\"),
                func.lower(Gpu.name).like(pattern, escape="\\"),
            )
        )
    return conds


def list_page(
    session: Session,
    filters: GpuFilters,
    *,
    sort: str = "id",
    descending: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Gpu], int]:
    """One page of GPUs matching the filters, and how many match in all."""
    conds = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(Gpu).where(*conds)) or 0
    column = SORTABLE_COLUMNS[sort]
    order = column.desc().nulls_last() if descending else column.asc().nulls_last()
    stmt: Select[Gpu] = (
        select(Gpu)
        .where(*conds)
        .options(selectinload(Gpu.sources))
        .order_by(order, Gpu.id)
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(stmt).all(), total


def get(session: Session, gpu_id: str) -> Gpu | None:
    """One GPU with its sources and prices loaded."""
    stmt = (
        select(Gpu)
        .where(Gpu.id == gpu_id)
        .options(selectinload(Gpu.sources), selectinload(Gpu.prices))
    )
    return session.scalars(stmt).first()


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Gpu)) or 0


def content_hashes(session: Session) -> dict[str, str]:
    rows = session.execute(select(Gpu.id, Gpu.content_sha256)).all()
    return {row[0]: row[1] for row in rows}


def add(session: Session, gpu: Gpu) -> None:
    session.add(gpu)


def touch(gpu: Gpu) -> None:
    gpu.updated_at = dt.datetime.now(dt.UTC)


def remove(session: Session, gpu_id: str) -> None:
    session.execute(delete(Gpu).where(Gpu.id == gpu_id))


def lock_for_catalog_sync(session: Session) -> None:
    """Serialize concurrent catalog syncs (workers and replicas starting together) before the
    sync reads what the database holds: a transaction-scoped advisory lock on PostgreSQL; on
    SQLite, a write statement that changes nothing, which takes the database's write lock at
    once (a second writer waits for it) instead of at the first real insert."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CATALOG_SYNC_LOCK_KEY})
    elif dialect == "sqlite":
        session.execute(text("UPDATE catalog_versions SET id = id WHERE 1 = 0"))
