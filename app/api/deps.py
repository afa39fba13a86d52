"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from app.concurrency import ComputeSlots
from app.config import Settings
from app.db import session_scope
from app.errors import ServiceUnavailableError
from app.services.catalog import LoadedCatalog


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's session: committed when the route returns, rolled back when it raises.
    Routes that write use a short transaction of their own (SessionFactoryDep) instead, so no
    write lock is held while the answer is computed or rendered."""
    with session_scope(request.app.state.sessionmaker) as session:
        yield session


def get_optional_session(request: Request) -> Iterator[Session]:
    """A session whose commit failing (database down) does not fail the request: for endpoints
    that work from the loaded catalog and only enrich their answer from the database."""
    session = request.app.state.sessionmaker()
    try:
        yield session
        try:
            session.commit()
        except Exception:
            session.rollback()
    finally:
        session.close()


def get_compute(request: Request) -> ComputeSlots:
    compute: ComputeSlots = request.app.state.compute
    return compute


def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return factory


def get_catalog(request: Request) -> LoadedCatalog:
    catalog: LoadedCatalog | None = request.app.state.catalog
    if catalog is None:
        raise ServiceUnavailableError("the catalog is not loaded")
    return catalog


def get_optional_catalog(request: Request) -> LoadedCatalog | None:
    catalog: LoadedCatalog | None = request.app.state.catalog
    return catalog


# The OpenAPI security scheme of the write endpoints (Swagger's Authorize button, a generated
# client's AuthenticatedClient). auto_error=False: verify_bearer gives the one 401 message.
bearer_scheme = HTTPBearer(
    scheme_name="bearer",
    auto_error=False,
    description="A token from `gpu-advisor token create NAME` (or ADVISOR_API_TOKEN).",
)


def require_token(
    request: Request,
    session: Annotated[Session, Depends(get_session, scope="function")],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> str:
    """Write endpoints: the caller must present an active bearer token."""
    from app.errors import UnauthorizedError
    from app.services.auth import verify_bearer

    limiter = request.app.state.rate_limiter
    limiter.check_auth_failures(request)  # 429 once a client has guessed too often
    try:
        return verify_bearer(
            session, request.app.state.settings, request.headers.get("authorization")
        )
    except UnauthorizedError:
        limiter.record_auth_failure(request)
        raise


def rate_limited(request: Request) -> None:
    """Count this request against the caller's one bucket for expensive writes (429 past it)."""
    request.app.state.rate_limiter.check(request)


RateLimit = Depends(rate_limited)
# scope="function": commit when the route returns, before the response is sent, so a client
# following a 303 to a just-saved result (the web form) never reads before the commit.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TokenDep = Annotated[str, Depends(require_token)]
OptionalSessionDep = Annotated[Session, Depends(get_optional_session)]
SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ComputeDep = Annotated[ComputeSlots, Depends(get_compute)]
CatalogDep = Annotated[LoadedCatalog, Depends(get_catalog)]
OptionalCatalogDep = Annotated[LoadedCatalog | None, Depends(get_optional_catalog)]
