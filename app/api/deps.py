"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import session_scope
from app.errors import ServiceUnavailableError
from app.services.catalog import LoadedCatalog


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's session: committed when the route returns, rolled back when it raises."""
    yield from session_scope(request.app.state.sessionmaker)


def get_catalog(request: Request) -> LoadedCatalog:
    catalog: LoadedCatalog | None = request.app.state.catalog
    if catalog is None:
        raise ServiceUnavailableError("the catalog is not loaded")
    return catalog


def get_optional_catalog(request: Request) -> LoadedCatalog | None:
    catalog: LoadedCatalog | None = request.app.state.catalog
    return catalog


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CatalogDep = Annotated[LoadedCatalog, Depends(get_catalog)]
OptionalCatalogDep = Annotated[LoadedCatalog | None, Depends(get_optional_catalog)]
