"""Saved recommendations: the request and the answer, so a shared link shows the same result.

One row per distinct (request, catalog version, app version): `content_hash` is the SHA-256 of
those, unique, so the same question asked again returns the same link instead of a new row.
`size_bytes` is the stored JSON's size (capped by app/services/saved_results.py); `created_at`
drives retention (ADVISOR_SAVED_RESULTS_DAYS, `gpu-advisor saved prune`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class SavedRecommendation(Base):
    __tablename__ = "recommendations"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    catalog_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    content_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
