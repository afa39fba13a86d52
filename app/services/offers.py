"""Offers in the database: the catalog sync's part for catalog/offers/, and the offer reads."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.errors import InvalidInputError
from app.models import Offer, Provider
from app.repositories import offers as offers_repo
from app.schemas.catalog import CatalogOffer
from app.schemas.offers import OfferFilters, OfferPage, OfferRead, OfferSourceRead

if TYPE_CHECKING:
    from app.services.catalog import LoadedCatalog

# An offer observed more than this long ago is shown as stale (issue 11: "older than 12 months").
STALE_AFTER_DAYS = 365


def _digest(offer: CatalogOffer) -> str:
    payload = offer.model_dump(mode="json")
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _fill(row: Offer, offer: CatalogOffer, digest: str) -> None:
    row.provider = offer.provider
    row.instance = offer.instance
    row.gpu_id = offer.gpu
    row.gpus_per_instance = offer.gpus_per_instance
    row.vcpus = offer.vcpus
    row.host_memory_gb = offer.host_memory_gb
    row.interconnect = offer.interconnect
    row.network_gbps_per_gpu = offer.network_gbps_per_gpu
    row.multi_node = offer.multi_node
    row.usd_per_instance_hour = offer.usd_per_instance_hour
    row.usd_per_gpu_hour = offer.usd_per_gpu_hour
    row.spot_usd_per_instance_hour = offer.spot_usd_per_instance_hour
    row.reserved_usd_per_instance_hour = offer.reserved_usd_per_instance_hour
    row.regions = list(offer.regions)
    row.observed = offer.observed
    row.source_title = offer.source.title
    row.source_url = str(offer.source.url)
    row.source_retrieved_on = offer.source.retrieved
    row.source_note = offer.source.note
    row.content_sha256 = digest


def sync_offers(session: Session, catalog: LoadedCatalog) -> tuple[int, int, int]:
    """Make providers and offers match the catalog; unchanged offers are not written, so a
    second sync changes nothing. Returns (added, updated, removed) offers. Runs inside the
    catalog sync's transaction, after the GPUs (offers reference them)."""
    have_providers = offers_repo.providers(session)
    wanted_providers = {p.id for p in catalog.providers}
    for provider in catalog.providers:
        held = have_providers.get(provider.id)
        if held is None:
            held = Provider(id=provider.id)
            offers_repo.add(session, held)
        held.name, held.kind, held.url = provider.name, provider.kind, str(provider.url)
    existing = offers_repo.offer_hashes(session)
    wanted: set[tuple[str, str, str]] = set()
    added = updated = removed = 0
    for offer in catalog.offers:
        key = (offer.provider, offer.instance, offer.gpu)
        wanted.add(key)
        digest = _digest(offer)
        found = existing.get(key)
        if found is not None and found[1] == digest:
            continue
        row = offers_repo.get(session, found[0]) if found is not None else None
        if row is None:
            row = Offer()
            offers_repo.add(session, row)
            added += 1
        else:
            updated += 1
        _fill(row, offer, digest)
    for key in sorted(set(existing) - wanted):
        offers_repo.remove(session, existing[key][0])
        removed += 1
    for gone in sorted(set(have_providers) - wanted_providers):
        offers_repo.remove_provider(session, gone)
    session.flush()
    return added, updated, removed


def _read(row: Offer, today: dt.date) -> OfferRead:
    return OfferRead(
        provider=row.provider,
        instance=row.instance,
        gpu=row.gpu_id,
        gpus_per_instance=row.gpus_per_instance,
        vcpus=row.vcpus,
        host_memory_gb=row.host_memory_gb,
        interconnect=row.interconnect,
        network_gbps_per_gpu=row.network_gbps_per_gpu,
        multi_node=row.multi_node,
        usd_per_instance_hour=row.usd_per_instance_hour,
        usd_per_gpu_hour=row.usd_per_gpu_hour,
        spot_usd_per_instance_hour=row.spot_usd_per_instance_hour,
        reserved_usd_per_instance_hour=row.reserved_usd_per_instance_hour,
        regions=list(row.regions),
        observed=row.observed,
        stale=(today - row.observed).days > STALE_AFTER_DAYS,
        source=OfferSourceRead(
            title=row.source_title,
            url=row.source_url,
            retrieved=row.source_retrieved_on,
            note=row.source_note,
        ),
    )


def list_offers(session: Session, filters: OfferFilters, *, limit: int, offset: int) -> OfferPage:
    """A page of offers, cheapest per GPU-hour first; an unknown provider is a 422."""
    if filters.provider is not None:
        known = offers_repo.provider_ids(session)
        if filters.provider not in known:
            message = f"unknown provider '{filters.provider}'; known: {', '.join(sorted(known))}"
            raise InvalidInputError(
                message, detail=[{"loc": ["query", "provider"], "msg": message}]
            )
    if (
        filters.min_gpus is not None
        and filters.max_gpus is not None
        and filters.min_gpus > filters.max_gpus
    ):
        message = "min_gpus must be <= max_gpus"
        raise InvalidInputError(message, detail=[{"loc": ["query", "min_gpus"], "msg": message}])
    rows, total = offers_repo.list_page(session, filters, limit=limit, offset=offset)
    today = dt.date.today()
    return OfferPage(items=[_read(r, today) for r in rows], total=total, limit=limit, offset=offset)


def offers_for_gpu(session: Session, gpu_id: str) -> list[OfferRead]:
    today = dt.date.today()
    rows: Sequence[Offer] = offers_repo.for_gpu(session, gpu_id)
    return [_read(r, today) for r in rows]
