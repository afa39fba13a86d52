"""Queries on offers and providers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from app.models import Offer, Provider
from app.schemas.offers import OfferFilters


def _conditions(filters: OfferFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.gpu:
        conds.append(Offer.gpu_id == filters.gpu)
    if filters.provider:
        conds.append(Offer.provider == filters.provider)
    if filters.min_gpus is not None:
        conds.append(Offer.gpus_per_instance >= filters.min_gpus)
    if filters.max_gpus is not None:
        conds.append(Offer.gpus_per_instance <= filters.max_gpus)
    if filters.max_usd_per_gpu_hour is not None:
        conds.append(Offer.usd_per_gpu_hour <= filters.max_usd_per_gpu_hour)
    return conds


def list_page(
    session: Session, filters: OfferFilters, *, limit: int, offset: int
) -> tuple[Sequence[Offer], int]:
    """One page of offers matching the filters (cheapest per GPU-hour first), and the total."""
    conds = _conditions(filters)
    total = session.scalar(select(func.count()).select_from(Offer).where(*conds)) or 0
    stmt = (
        select(Offer)
        .where(*conds)
        .order_by(
            Offer.usd_per_gpu_hour.asc().nulls_last(), Offer.provider, Offer.instance, Offer.gpu_id
        )
        .limit(limit)
        .offset(offset)
    )
    return session.scalars(stmt).all(), total


def for_gpu(session: Session, gpu_id: str) -> Sequence[Offer]:
    stmt = (
        select(Offer)
        .where(Offer.gpu_id == gpu_id)
        .order_by(Offer.usd_per_gpu_hour.asc().nulls_last(), Offer.provider, Offer.instance)
    )
    return session.scalars(stmt).all()


def provider_ids(session: Session) -> set[str]:
    return set(session.scalars(select(Provider.id)).all())


def providers(session: Session) -> dict[str, Provider]:
    return {p.id: p for p in session.scalars(select(Provider)).all()}


def offer_hashes(session: Session) -> dict[tuple[str, str, str], tuple[int, str]]:
    rows = session.execute(
        select(Offer.provider, Offer.instance, Offer.gpu_id, Offer.id, Offer.content_sha256)
    ).all()
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


def add(session: Session, row: Offer | Provider) -> None:
    session.add(row)


def get(session: Session, offer_id: int) -> Offer | None:
    return session.get(Offer, offer_id)


def remove(session: Session, offer_id: int) -> None:
    session.execute(delete(Offer).where(Offer.id == offer_id))


def remove_provider(session: Session, provider_id: str) -> None:
    session.execute(delete(Provider).where(Provider.id == provider_id))
