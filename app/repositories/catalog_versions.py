"""Queries on catalog_versions: which catalog content the database holds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CatalogVersion


def latest(session: Session) -> CatalogVersion | None:
    return session.scalars(
        select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(1)
    ).first()


def add(
    session: Session, *, version: str, gpu_count: int, price_count: int, model_count: int
) -> None:
    session.add(
        CatalogVersion(
            version=version, gpu_count=gpu_count, price_count=price_count, model_count=model_count
        )
    )
