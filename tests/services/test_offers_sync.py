"""Offers follow the catalog in the database: idempotent, updated in place, removed (both backends)."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Offer, Provider
from app.services.catalog import LoadedCatalog
from app.services.offers import sync_offers


def test_offers_sync_is_idempotent_and_tracks_changes(
    db_session: Session, catalog: LoadedCatalog
) -> None:
    assert db_session.scalar(select(func.count()).select_from(Offer)) == len(catalog.offers)
    assert db_session.scalar(select(func.count()).select_from(Provider)) == len(catalog.providers)
    assert sync_offers(db_session, catalog) == (0, 0, 0)

    first = catalog.offers[0]
    cheaper = first.model_copy(update={"usd_per_instance_hour": 0.01})
    changed = dataclasses.replace(catalog, offers=(cheaper, *catalog.offers[2:]))
    assert sync_offers(db_session, changed) == (0, 1, 1)
    row = db_session.scalars(
        select(Offer).where(Offer.provider == first.provider, Offer.instance == first.instance)
    ).one()
    db_session.refresh(row)
    assert row.usd_per_instance_hour == 0.01
    assert row.usd_per_gpu_hour == 0.01 / first.gpus_per_instance
    assert sync_offers(db_session, changed) == (0, 0, 0)
    assert sync_offers(db_session, catalog) == (1, 1, 0)
