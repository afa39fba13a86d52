"""Liveness, readiness, presets and the offline OpenAPI page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.services.catalog import LoadedCatalog


def test_healthz_answers_ok(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_readyz_is_ready_when_database_holds_the_loaded_catalog(
    client: TestClient, catalog: LoadedCatalog
) -> None:
    body = client.get("/readyz").json()
    assert body == {
        "status": "ready",
        "database": "ok",
        "catalog_version": catalog.version,
        "catalog_gpus": len(catalog.gpus),
        "problems": [],
    }


def test_readyz_is_503_when_the_database_is_unreachable(
    settings: Settings, tmp_path: object
) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"}
    )
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
        assert client.get("/healthz").status_code == 200


def test_models_lists_the_presets(client: TestClient, catalog: LoadedCatalog) -> None:
    body = client.get("/api/v1/models").json()
    assert [m["id"] for m in body] == [m.id for m in catalog.models]


def test_docs_page_loads_swagger_ui_from_local_static_files_only(client: TestClient) -> None:
    html = client.get("/docs").text
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the docs page should reference its assets"
    for asset in assets:
        assert asset.startswith("/static/"), f"{asset} is not served by the app"
        assert client.get(asset).status_code == 200
    assert "cdn" not in html.lower()


def test_openapi_gives_every_route_a_summary_line(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert operation.get("description"), f"{method.upper()} {path} has no description"
