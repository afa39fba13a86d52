"""Queries on API tokens (stored as SHA-256 digests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken


def add(session: Session, name: str, token_sha256: str) -> ApiToken:
    token = ApiToken(name=name, token_sha256=token_sha256)
    session.add(token)
    session.flush()
    return token


def by_name(session: Session, name: str) -> ApiToken | None:
    return session.scalars(select(ApiToken).where(ApiToken.name == name)).first()


def active_digests(session: Session) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None))).all()


def all_tokens(session: Session) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).order_by(ApiToken.id)).all()


def mark_used(token: ApiToken) -> None:
    token.last_used_at = dt.datetime.now(dt.UTC)


def revoke(token: ApiToken) -> None:
    token.revoked_at = dt.datetime.now(dt.UTC)
