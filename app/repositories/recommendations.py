"""Queries on saved recommendations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models import SavedRecommendation


def add_unless_present(
    session: Session,
    *,
    id: str,
    content_hash: str,
    request: dict[str, Any],
    response: dict[str, Any],
    catalog_version: str,
    size_bytes: int,
) -> str:
    """Insert the row unless one with this content hash exists; the id of the row that holds it.

    One INSERT ... ON CONFLICT DO NOTHING, then a read by hash: the write comes first, so on
    SQLite the transaction takes the write lock at once (a read first would hold a snapshot that
    a concurrent writer can invalidate) and two replicas saving the same answer both succeed."""
    values = {
        "id": id,
        "content_hash": content_hash,
        "request": request,
        "response": response,
        "catalog_version": catalog_version,
        "size_bytes": size_bytes,
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            postgresql.insert(SavedRecommendation).values(values).on_conflict_do_nothing()
        )
    elif dialect == "sqlite":
        session.execute(sqlite.insert(SavedRecommendation).values(values).on_conflict_do_nothing())
    elif by_hash(session, content_hash) is None:  # the project runs on SQLite and PostgreSQL
        session.execute(insert(SavedRecommendation).values(values))
    saved_id = session.scalar(
        select(SavedRecommendation.id).where(SavedRecommendation.content_hash == content_hash)
    )
    assert saved_id is not None
    return saved_id


def by_hash(session: Session, content_hash: str) -> SavedRecommendation | None:
    return session.scalars(
        select(SavedRecommendation).where(SavedRecommendation.content_hash == content_hash)
    ).first()


def get(session: Session, recommendation_id: str) -> SavedRecommendation | None:
    return session.get(SavedRecommendation, recommendation_id)


def delete_older_than(session: Session, cutoff: dt.datetime) -> int:
    """Delete rows created before `cutoff`; how many were deleted."""
    result = session.execute(
        delete(SavedRecommendation).where(SavedRecommendation.created_at < cutoff)
    )
    return int(getattr(result, "rowcount", 0) or 0)
