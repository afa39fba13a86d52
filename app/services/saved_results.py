"""Saved recommendations: one short write transaction per answer, deduplicated and size-capped.

Saving is separate from ranking (app/services/recommend.py) so the write lock is held only for
one INSERT and its commit, after the answer is computed and before it is rendered: on SQLite a
write transaction held through ranking and serialization made 50 concurrent requests queue on
the database lock for up to its timeout (docs/operations.md, "Database").

- Deduplicated: the row is keyed by the SHA-256 of the canonical request JSON, the catalog
  version and the app version; the same question answered by the same data returns the same id.
- Size-capped: a pasted `hf_config` keeps only the scalar fields the estimator can read (numbers,
  booleans, short strings); a result whose JSON is still above SAVED_RESULT_MAX_BYTES is
  answered but not saved (its `id` is null).
- Retention: results older than ADVISOR_SAVED_RESULTS_DAYS are not served and
  `gpu-advisor saved prune` deletes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import __version__
from app.config import Settings
from app.db import session_scope
from app.errors import NotFoundError
from app.repositories import recommendations as recommendations_repo
from app.schemas.recommend import RecommendRequest, RecommendResponse
from app.services import recommend as recommend_service
from app.services.catalog import LoadedCatalog
from app.services.efficiency import measured_efficiencies
from app.services.estimate import check_positions, resolve_model

log = logging.getLogger(__name__)

# A full answer for the whole catalog with ten detailed options is about 100-200 KB of JSON;
# four times the largest seen leaves room for a larger catalog, and bounds what one request can
# add to the database (a 4 MB pasted config used to be stored whole).
SAVED_RESULT_MAX_BYTES = 1_000_000
# Strings in a pasted config longer than this are not dimensions (the estimator reads numbers,
# booleans and short names such as model_type and feed_forward_proj).
HF_CONFIG_MAX_STRING = 100


def _compact_hf_config(config: dict[str, Any]) -> dict[str, Any]:
    """The scalar entries of a config.json that the estimator can read; nested objects, lists
    and long strings are dropped (they never change the answer)."""
    kept: dict[str, Any] = {}
    for key, value in config.items():
        if len(key) > HF_CONFIG_MAX_STRING:
            continue
        short_text = isinstance(value, str) and len(value) <= HF_CONFIG_MAX_STRING
        if value is None or short_text or isinstance(value, bool | int | float):
            kept[key] = value
    return kept


def _stored_request(request: RecommendRequest) -> dict[str, Any]:
    stored = request.model_dump(mode="json")
    model = stored.get("model") or {}
    if isinstance(model.get("hf_config"), dict):
        model["hf_config"] = _compact_hf_config(model["hf_config"])
    return stored


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(stored_request: dict[str, Any], catalog_version: str) -> str:
    """SHA-256 over what determines the answer: the request, the catalog and the code version."""
    digest = hashlib.sha256()
    for part in (_canonical(stored_request), catalog_version.encode(), __version__.encode()):
        digest.update(part)
        digest.update(b"\x00")
    return digest.hexdigest()


def save(
    factory: sessionmaker[Session],
    request: RecommendRequest,
    response: RecommendResponse,
    catalog_version: str,
) -> str | None:
    """Store request and answer in one short transaction; the shareable id (an existing one for
    the same content), or None when the result is too large to keep."""
    stored_request = _stored_request(request)
    stored_response = response.model_dump(mode="json", exclude={"id"})
    size_bytes = len(_canonical(stored_request)) + len(_canonical(stored_response))
    if size_bytes > SAVED_RESULT_MAX_BYTES:
        log.warning("recommendation not saved: %d bytes of JSON", size_bytes)
        return None
    with _autocommit_session(factory) as session:
        return recommendations_repo.add_unless_present(
            session,
            id=secrets.token_urlsafe(9),  # 12 characters, 72 random bits
            content_hash=content_hash(stored_request, catalog_version),
            request=stored_request,
            response=stored_response,
            catalog_version=catalog_version,
            size_bytes=size_bytes,
        )


@contextmanager
def _autocommit_session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose every statement commits on its own. The save is one INSERT ... ON
    CONFLICT DO NOTHING, so on SQLite the write lock is taken and released inside that one
    statement's C call: a thread that then waits for the GIL behind 40 busy ranking threads no
    longer holds the lock while it waits (holding it through a separate COMMIT made concurrent
    savers hit the busy timeout under load)."""
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    with (
        bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection,
        Session(bind=connection) as session,
    ):
        yield session


def recommend_and_save(
    factory: sessionmaker[Session],
    request: RecommendRequest,
    catalog: LoadedCatalog,
) -> RecommendResponse:
    """Read the probe-measured efficiencies, rank (no database connection held), then save in a
    short transaction of its own."""
    with session_scope(factory) as session:
        measured = measured_efficiencies(session)
    response = recommend_service.recommend_for_sharing(request, catalog, measured)
    response.id = save(factory, request, response, catalog.version)
    return response


def recommend_for_form(
    factory: sessionmaker[Session],
    request: RecommendRequest,
    catalog: LoadedCatalog,
) -> RecommendResponse:
    """The web form's recommendation: a sequence longer than a model's learned positions is a
    form error there (`check_positions`), then as `recommend_and_save`."""
    check_positions(resolve_model(request.model, catalog, request.workload), request.workload)
    return recommend_and_save(factory, request, catalog)


def _cutoff(settings: Settings, now: dt.datetime | None = None) -> dt.datetime | None:
    if settings.saved_results_days == 0:
        return None
    now = now or dt.datetime.now(dt.UTC)
    return now - dt.timedelta(days=settings.saved_results_days)


def _as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive UTC timestamps; PostgreSQL aware ones."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def get_saved(
    session: Session, recommendation_id: str, settings: Settings
) -> tuple[RecommendRequest, RecommendResponse, str]:
    """A saved recommendation exactly as it was answered; NotFoundError for an unknown id or one
    past the retention period."""
    saved = recommendations_repo.get(session, recommendation_id)
    cutoff = _cutoff(settings)
    if saved is None or (cutoff is not None and _as_utc(saved.created_at) < cutoff):
        raise NotFoundError(f"no saved recommendation with id '{recommendation_id}'")
    response = RecommendResponse.model_validate(saved.response)
    response.id = saved.id
    return (
        RecommendRequest.model_validate(saved.request),
        response,
        saved.catalog_version,
    )


def prune(factory: sessionmaker[Session], settings: Settings) -> int:
    """Delete saved results past the retention period; how many were deleted."""
    cutoff = _cutoff(settings)
    if cutoff is None:
        return 0
    with session_scope(factory) as session:
        # SQLite stores naive UTC (CURRENT_TIMESTAMP); compare like with like.
        if session.get_bind().dialect.name == "sqlite":
            cutoff = cutoff.replace(tzinfo=None)
        return recommendations_repo.delete_older_than(session, cutoff)
