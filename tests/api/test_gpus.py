"""GET /api/v1/gpus and /api/v1/gpus/{id} against SQLite and PostgreSQL with the real catalog."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.services.catalog import LoadedCatalog


def _ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/api/v1/gpus?limit=500&{query}")
    assert response.status_code == 200, response.text
    return [g["id"] for g in response.json()["items"]]


def test_list_returns_every_catalog_gpu_with_contract_fields(
    client: TestClient, catalog: LoadedCatalog
) -> None:
    body = client.get("/api/v1/gpus?limit=500").json()
    assert body["total"] == len(catalog.gpus)
    assert {g["id"] for g in body["items"]} == {g.id for g in catalog.gpus}
    contract = {"id", "name", "vendor", "segment", "memory_gb", "memory_bandwidth_gb_s", "tdp_w",
                "peak_tflops", "ecosystem", "sources"}  # fmt: skip
    for gpu in body["items"]:
        assert contract <= gpu.keys()
        assert gpu["sources"], f"{gpu['id']} has no sources"
        assert set(gpu["peak_tflops"]) >= {
            "fp64",
            "fp32",
            "tf32",
            "bf16",
            "fp16",
            "fp8",
            "int8",
            "fp4",
        }


def test_vendor_and_min_memory_filters_select_exactly_the_matching_rows(
    client: TestClient, catalog: LoadedCatalog
) -> None:
    expected = {g.id for g in catalog.gpus if g.vendor == "amd" and g.memory_gb >= 128}
    assert expected, "the catalog should hold AMD GPUs with >= 128 GB"
    assert set(_ids(client, "vendor=amd&min_memory_gb=128")) == expected


@pytest.mark.parametrize(
    ("query", "predicate"),
    [
        ("segment=consumer", lambda g: g.segment == "consumer"),
        (
            "segment=datacenter&vendor=nvidia",
            lambda g: g.segment == "datacenter" and g.vendor == "nvidia",
        ),
        ("ecosystem=rocm", lambda g: g.ecosystem.platform == "rocm"),
        ("framework=jax", lambda g: g.ecosystem.frameworks.jax is True),
        ("min_memory_gb=80", lambda g: g.memory_gb >= 80),
    ],
)
def test_filters_match_the_catalog(
    client: TestClient, catalog: LoadedCatalog, query: str, predicate: object
) -> None:
    expected = {g.id for g in catalog.gpus if predicate(g)}  # type: ignore[operator]
    assert set(_ids(client, query)) == expected


def test_q_matches_id_or_name_case_insensitively(
    client: TestClient, catalog: LoadedCatalog
) -> None:
    expected = {g.id for g in catalog.gpus if "h100" in g.id.lower() or "h100" in g.name.lower()}
    assert expected
    assert set(_ids(client, "q=H100")) == expected
    assert set(_ids(client, "q=h100")) == expected


def test_q_treats_like_wildcards_literally(client: TestClient) -> None:
    assert _ids(client, "q=%25") == []
    assert _ids(client, "q=_") == []


def test_sort_by_memory_descending_puts_the_largest_first(client: TestClient) -> None:
    items = client.get("/api/v1/gpus?sort=memory_gb&order=desc&limit=500").json()["items"]
    memories = [g["memory_gb"] for g in items]
    assert memories == sorted(memories, reverse=True)


def test_pagination_walks_all_rows_without_overlap(client: TestClient) -> None:
    total = client.get("/api/v1/gpus?limit=1").json()["total"]
    seen: list[str] = []
    for offset in range(0, total, 7):
        page = client.get(f"/api/v1/gpus?limit=7&offset={offset}").json()
        assert page["limit"] == 7
        assert page["offset"] == offset
        seen += [g["id"] for g in page["items"]]
    assert len(seen) == total == len(set(seen))


def test_gpu_detail_has_sources_notes_and_prices(
    client: TestClient, catalog: LoadedCatalog
) -> None:
    priced = next((p.gpu for p in catalog.prices), catalog.gpus[0].id)
    body = client.get(f"/api/v1/gpus/{priced}").json()
    assert body["id"] == priced
    assert body["sources"][0]["url"].startswith("http")
    assert "notes" in body
    assert "measurements" in body
    assert len(body["prices"]) == len(catalog.prices_for(priced))


def test_unknown_gpu_id_is_a_404_with_a_json_error(client: TestClient) -> None:
    response = client.get("/api/v1/gpus/no-such-gpu")
    assert response.status_code == 404
    assert response.json()["error"] == "no GPU with id 'no-such-gpu'"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("vendor=nvidai", "vendor"),
        ("segment=gaming", "segment"),
        ("ecosystem=metal", "ecosystem"),
        ("min_memory_gb=-1", "min_memory_gb"),
        ("min_memory_gb=lots", "min_memory_gb"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("offset=-5", "offset"),
        ("sort=price", "sort"),
        ("order=up", "order"),
    ],
)
def test_bad_filter_value_is_a_422_naming_the_parameter(
    client: TestClient, query: str, parameter: str
) -> None:
    response = client.get(f"/api/v1/gpus?{query}")
    assert response.status_code == 422
    body = response.json()
    assert f"query.{parameter}" in body["error"]
    assert body["detail"][0]["loc"] == ["query", parameter]


def test_malformed_gpu_id_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.get("/api/v1/gpus/" + "x" * 200)
    assert response.status_code == 422
    assert "gpu_id" in response.json()["error"]
