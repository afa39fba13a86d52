"""Queries on saved recommendations."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.models import SavedRecommendation


def add(
    session: Session,
    *,
    id: str,
    request: dict[str, Any],
    response: dict[str, Any],
    catalog_version: str,
) -> None:
    session.add(
        SavedRecommendation(
            id=id, request=request, response=response, catalog_version=catalog_version
        )
    )
    session.flush()


def get(session: Session, recommendation_id: str) -> SavedRecommendation | None:
    return session.get(SavedRecommendation, recommendation_id)
