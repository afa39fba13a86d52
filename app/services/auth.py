"""Bearer tokens for write endpoints: created and revoked with the CLI, stored hashed.

A token is 32 random bytes (URL-safe base64, 43 characters); the database keeps only its
SHA-256, and a presented token is compared against every active digest with
hmac.compare_digest (constant time). ADVISOR_API_TOKEN, when set, is accepted too (bootstrap).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import ConflictError, NotFoundError, UnauthorizedError
from app.repositories import tokens as tokens_repo

TOKEN_BYTES = 32


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str) -> str:
    """A new token (returned once, never stored in clear)."""
    if tokens_repo.by_name(session, name) is not None:
        raise ConflictError(f"a token named '{name}' exists; revoke it or pick another name")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    tokens_repo.add(session, name, digest(token))
    return token


def revoke_token(session: Session, name: str) -> None:
    token = tokens_repo.by_name(session, name)
    if token is None or token.revoked_at is not None:
        raise NotFoundError(f"no active token named '{name}'")
    tokens_repo.revoke(token)


def list_tokens(session: Session) -> list[dict[str, object]]:
    return [
        {
            "name": t.name,
            "created_at": t.created_at,
            "revoked_at": t.revoked_at,
            "last_used_at": t.last_used_at,
        }
        for t in tokens_repo.all_tokens(session)
    ]


def verify_bearer(session: Session, settings: Settings, authorization: str | None) -> str:
    """The name of the token presented in `Authorization: Bearer ...`; UnauthorizedError if
    missing, malformed, unknown or revoked."""
    if not authorization:
        raise UnauthorizedError(
            "this endpoint needs a bearer token (Authorization: Bearer <token>)"
        )
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    presented_digest = digest(presented.strip())
    matched = None
    for token in tokens_repo.active_digests(session):
        if hmac.compare_digest(token.token_sha256, presented_digest):
            matched = token
    if matched is not None:
        tokens_repo.mark_used(matched)
        return matched.name
    configured = settings.api_token.get_secret_value() if settings.api_token else None
    if configured and hmac.compare_digest(digest(configured), presented_digest):
        return "ADVISOR_API_TOKEN"
    raise UnauthorizedError("invalid or revoked token")
