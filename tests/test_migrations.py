"""Alembic owns the schema: upgrade, downgrade and upgrade again, then no drift from the models."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app import migrate
from app.db import Base, make_engine
from tests.databases import BACKENDS, fresh_database

_BACKEND_PARAMS = [
    pytest.param(b, marks=[pytest.mark.postgres] if b == "postgresql" else []) for b in BACKENDS
]


@pytest.mark.parametrize("backend", _BACKEND_PARAMS)
def test_upgrade_downgrade_upgrade_leaves_no_difference_from_models(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
            migrate.upgrade(url)
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, Base.metadata)
            assert diff == [], f"models and migrations differ: {diff}"
        finally:
            engine.dispose()
