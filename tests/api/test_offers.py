"""GET /api/v1/offers, offers on the GPU detail, and the recommend inputs of issue 11."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.services.catalog import LoadedCatalog


def test_offers_list_filters_and_paginates(client: TestClient, catalog: LoadedCatalog) -> None:
    everything = client.get("/api/v1/offers", params={"limit": 500})
    assert everything.status_code == 200, everything.text
    page = everything.json()
    assert set(page) == {"items", "total", "limit", "offset"}
    assert page["total"] == len(catalog.offers)
    first = page["items"][0]
    for key in ("provider", "instance", "gpu", "gpus_per_instance", "usd_per_instance_hour",
                "usd_per_gpu_hour", "observed", "source", "stale", "regions", "multi_node"):  # fmt: skip
        assert key in first
    prices = [o["usd_per_gpu_hour"] for o in page["items"] if o["usd_per_gpu_hour"] is not None]
    assert prices == sorted(prices)

    h100 = client.get(
        "/api/v1/offers", params={"gpu": "nvidia-h100-sxm", "min_gpus": 8, "max_gpus": 8}
    ).json()
    assert h100["total"] >= 1
    assert all(o["gpu"] == "nvidia-h100-sxm" and o["gpus_per_instance"] == 8 for o in h100["items"])

    provider = catalog.offers[0].provider
    by_provider = client.get("/api/v1/offers", params={"provider": provider}).json()
    assert by_provider["total"] == sum(1 for o in catalog.offers if o.provider == provider)

    cheap = client.get("/api/v1/offers", params={"max_usd_per_gpu_hour": 1.0}).json()
    assert all(o["usd_per_gpu_hour"] <= 1.0 for o in cheap["items"])

    second = client.get("/api/v1/offers", params={"limit": 2, "offset": 2}).json()
    assert second["items"] == page["items"][2:4]


def test_offers_bad_filters_are_422s_naming_the_field(client: TestClient) -> None:
    unknown = client.get("/api/v1/offers", params={"provider": "nosuchcloud"})
    assert unknown.status_code == 422
    assert "provider" in unknown.text
    assert "nosuchcloud" in unknown.text
    negative = client.get("/api/v1/offers", params={"max_usd_per_gpu_hour": -1})
    assert negative.status_code == 422
    assert "max_usd_per_gpu_hour" in negative.text
    crossed = client.get("/api/v1/offers", params={"min_gpus": 8, "max_gpus": 2})
    assert crossed.status_code == 422
    assert "min_gpus" in crossed.text


def test_gpu_detail_lists_its_offers(client: TestClient, catalog: LoadedCatalog) -> None:
    detail = client.get("/api/v1/gpus/nvidia-h100-sxm").json()
    expected = {(o.provider, o.instance) for o in catalog.offers if o.gpu == "nvidia-h100-sxm"}
    assert {(o["provider"], o["instance"]) for o in detail["offers"]} == expected


def _recommend(client: TestClient, **extra: Any) -> Any:
    body = {"model": {"preset": "gpt2"}, "workload": {"task": "pretrain", "tokens": 1e9}, **extra}
    return client.post("/api/v1/recommend", json=body)


def test_recommend_answers_by_acquisition_mode(client: TestClient) -> None:
    rent = _recommend(client)
    assert rent.status_code == 200, rent.text
    answer = rent.json()
    assert answer["acquisition"] == "rent"
    best = answer["options"][0]
    assert best["offer"]["observed"]
    assert best["cost_usd_low"] < best["usd"] < best["cost_usd_high"]
    own = _recommend(
        client, acquisition="own", owned=[{"gpu": "nvidia-geforce-rtx-4090", "count": 1}]
    ).json()
    assert [o["gpu"] for o in own["options"]] == ["nvidia-geforce-rtx-4090"]
    assert own["options"][0]["offer"] is None


def test_recommend_bad_acquisition_inputs_are_422s_naming_the_field(client: TestClient) -> None:
    cases = [
        ({"constraints": {"max_budget_usd": -5}}, "body.constraints.max_budget_usd"),
        ({"acquisition": "buy", "usd_per_kwh": -0.1}, "body.usd_per_kwh"),
        ({"acquisition": "own"}, "body.owned"),
        ({"acquisition": "lease"}, "body.acquisition"),
        ({"acquisition": "own", "owned": [{"gpu": "no-such-gpu"}]}, "owned.0.gpu"),
    ]
    for extra, field in cases:
        response = _recommend(client, **extra)
        assert response.status_code == 422, (extra, response.text)
        assert field in response.text, (field, response.text)
