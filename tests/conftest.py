"""Shared fixtures: migrated databases per backend, a transaction per test, the app client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app import migrate
from app.api.deps import get_optional_session, get_session
from app.config import PROJECT_ROOT, Settings
from app.db import make_engine, make_sessionmaker
from app.main import create_app
from app.services.catalog import LoadedCatalog, load_catalog, sync_catalog_into
from tests.databases import fresh_database

CATALOG_DIR = PROJECT_ROOT / "catalog"


@pytest.fixture(scope="session")
def catalog() -> LoadedCatalog:
    """The project's real catalog, loaded once."""
    return load_catalog(CATALOG_DIR)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, catalog: LoadedCatalog
) -> Iterator[str]:
    """A database of each backend, migrated to head and holding the real catalog."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        sync_catalog_into(make_sessionmaker(engine), catalog)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test (SQLAlchemy's recipe)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        catalog_dir=CATALOG_DIR,
        sync_catalog_on_start=False,
        api_token="test-token",
        rate_limit_enabled=False,
    )


@pytest.fixture(scope="session")
def app_client(settings: Settings) -> Iterator[TestClient]:
    """One app per backend; its lifespan runs once."""
    app = create_app(settings)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient, db_session: Session) -> Iterator[TestClient]:
    """The app client with every request's session joined to the test's rolled-back transaction."""

    def _session() -> Iterator[Session]:
        yield db_session
        db_session.flush()

    app = app_client.app
    app.dependency_overrides[get_session] = _session  # type: ignore[attr-defined]
    app.dependency_overrides[get_optional_session] = _session  # type: ignore[attr-defined]
    yield app_client
    app.dependency_overrides.clear()  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fuzzing case count (issue: the fuzzing run prints how many cases it ran)."""
    import sys

    module = sys.modules.get("tests.fuzz.test_schemathesis")
    if module is not None and module.CASES:
        terminalreporter.write_line(module.fuzz_summary())
