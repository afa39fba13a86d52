"""Catalog loading (validation messages) and the idempotent sync, on both database backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import CatalogError
from app.main import create_app
from app.models import CatalogVersion, Gpu
from app.services.catalog import LoadedCatalog, load_catalog, sync_catalog
from tests.factories import gpu_record, price_record, write_catalog


def test_the_project_catalog_is_valid(catalog: LoadedCatalog) -> None:
    assert len(catalog.gpus) > 0
    assert len(catalog.version) == 16


def test_sync_of_an_unchanged_catalog_changes_nothing(
    db_session: Session, catalog: LoadedCatalog
) -> None:
    before = {g.id: g.updated_at for g in db_session.scalars(select(Gpu))}
    versions = db_session.query(CatalogVersion).count()
    report = sync_catalog(db_session, catalog)
    assert not report.changed
    assert report.unchanged == len(catalog.gpus)
    assert {g.id: g.updated_at for g in db_session.scalars(select(Gpu))} == before
    assert db_session.query(CatalogVersion).count() == versions


def test_sync_adds_updates_and_removes_records(db_session: Session, tmp_path: Path) -> None:
    first = load_catalog(
        write_catalog(
            tmp_path / "v1",
            [gpu_record(), gpu_record(id="testvendor-gpu-b", name="Test GPU B")],
            [price_record()],
        )
    )
    report = sync_catalog(db_session, first)
    assert "testvendor-gpu-a" in report.added
    assert report.version_recorded

    changed = gpu_record(memory_gb=96)
    second = load_catalog(
        write_catalog(tmp_path / "v2", [changed], [price_record(usd_per_gpu_hour=3.0)])
    )
    report = sync_catalog(db_session, second)
    assert report.updated == ["testvendor-gpu-a"]
    assert "testvendor-gpu-b" in report.removed
    row = db_session.get(Gpu, "testvendor-gpu-a")
    assert row is not None
    db_session.refresh(row)
    assert row.memory_gb == 96
    assert [p.usd_per_gpu_hour for p in row.prices] == [3.0]
    assert db_session.get(Gpu, "testvendor-gpu-b") is None
    latest = db_session.scalars(select(CatalogVersion).order_by(CatalogVersion.id.desc())).first()
    assert latest is not None
    assert latest.version == second.version

    again = sync_catalog(db_session, second)
    assert not again.changed


def test_sync_survives_a_second_process_start(engine: Engine, settings: Settings) -> None:
    """Two starts in a row against the same database: the second finds nothing to do."""
    synced = settings.model_copy(update={"sync_catalog_on_start": True})
    for _ in range(2):
        with TestClient(create_app(synced)) as client:
            assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (gpu_record(memory_gb=-80), "record 1 (testvendor-gpu-a): field 'memory_gb'"),
        (gpu_record(vendor="nvida"), "record 1 (testvendor-gpu-a): field 'vendor'"),
        (gpu_record(sources=[]), "record 1 (testvendor-gpu-a): field 'sources'"),
        (gpu_record(peak_tflops={"bf16": "fast"}), "field 'peak_tflops.bf16'"),
        (gpu_record(peak_tflops={"bf61": 1.0}), "field 'peak_tflops.bf61'"),
        (gpu_record(release_date="Sept 2022"), "field 'release_date'"),
        (gpu_record(id="Bad Id"), "field 'id'"),
        (gpu_record(colour="green"), "field 'colour'"),
        (gpu_record(name=None), "field 'name': Field required"),
    ],
)
def test_invalid_record_names_file_record_and_field(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    catalog_dir = write_catalog(tmp_path, [gpu_record(id="testvendor-ok"), record])
    with pytest.raises(CatalogError) as caught:
        load_catalog(catalog_dir)
    assert caught.value.message.startswith("catalog/gpus/test.yaml: record 2")
    assert message.replace("record 1", "record 2") in caught.value.message


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path)
    (catalog_dir / "gpus" / "broken.yaml").write_text("gpus:\n  - id: x\n    name: [unclosed\n")
    with pytest.raises(CatalogError, match=r"catalog/gpus/broken.yaml: line \d+, column \d+"):
        load_catalog(catalog_dir)


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path)
    write_catalog(tmp_path, gpu_file="other.yaml")
    with pytest.raises(CatalogError, match="field 'id': duplicate"):
        load_catalog(catalog_dir)


def test_price_for_an_unknown_gpu_is_refused(tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path, prices=[price_record(gpu="testvendor-missing")])
    with pytest.raises(
        CatalogError, match=r"prices.yaml: record 1 \(testvendor-missing\): field 'gpu'"
    ):
        load_catalog(catalog_dir)


def test_cloud_price_without_hourly_rate_is_refused(tmp_path: Path) -> None:
    catalog_dir = write_catalog(tmp_path, prices=[price_record(usd_per_gpu_hour=None)])
    with pytest.raises(CatalogError, match="needs usd_per_gpu_hour"):
        load_catalog(catalog_dir)


def test_app_refuses_to_start_with_an_invalid_catalog(settings: Settings, tmp_path: Path) -> None:
    bad = write_catalog(tmp_path, [gpu_record(memory_bandwidth_gb_s="fast")])
    app = create_app(settings.model_copy(update={"catalog_dir": bad}))
    with pytest.raises(CatalogError, match="field 'memory_bandwidth_gb_s'"), TestClient(app):
        pass


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_workers_starting_together_sync_the_catalog_once(
    backend: str, tmp_path: Path, catalog: LoadedCatalog
) -> None:
    """Several uvicorn workers start at once against a fresh database: no duplicate inserts."""
    from concurrent.futures import ThreadPoolExecutor

    from app import migrate
    from app.db import make_engine, make_sessionmaker
    from app.services.catalog import sync_catalog_into
    from tests.databases import fresh_database

    with fresh_database(backend, tmp_path) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        try:
            factory = make_sessionmaker(engine)
            with ThreadPoolExecutor(4) as pool:
                reports = list(pool.map(lambda _: sync_catalog_into(factory, catalog), range(4)))
            assert sum(len(r.added) for r in reports) == len(catalog.gpus)
            with factory() as session:
                assert session.query(Gpu).count() == len(catalog.gpus)
                assert session.query(CatalogVersion).count() == 1
        finally:
            engine.dispose()
