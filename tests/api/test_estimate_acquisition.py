"""POST /api/v1/estimate priced by acquisition mode (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.catalog import LoadedCatalog
from app.services.market import market_for


def _estimate(client: TestClient, gpu: str, count: int, **extra: Any) -> Any:
    body = {
        "model": {"preset": "gpt2"},
        "workload": {"task": "pretrain", "tokens": 1e9},
        "hardware": {"gpu": gpu, "count": count},
        **extra,
    }
    return client.post("/api/v1/estimate", json=body)


def test_rent_prices_the_cheapest_instance_offer(
    client: TestClient, catalog: LoadedCatalog
) -> None:
    body = _estimate(client, "nvidia-h100-sxm", 8).json()
    eights = [
        o for o in catalog.offers
        if o.gpu == "nvidia-h100-sxm" and o.gpus_per_instance == 8 and o.usd_per_instance_hour
    ]  # fmt: skip
    cheapest = min(eights, key=lambda o: o.usd_per_instance_hour or 0)
    assert cheapest.instance in body["cost"]["price_source"]
    hours = body["time"]["total_seconds"] / 3600
    assert body["cost"]["usd"] == pytest.approx((cheapest.usd_per_instance_hour or 0) * hours)


def test_own_costs_electricity_only(client: TestClient, catalog: LoadedCatalog) -> None:
    body = _estimate(
        client, "nvidia-geforce-rtx-4090", 1, acquisition="own", usd_per_kwh=0.2
    ).json()
    gpu = catalog.gpu("nvidia-geforce-rtx-4090")
    assert gpu is not None
    assert gpu.tdp_w is not None
    pue = market_for(catalog).ownership.pue
    hours = body["time"]["total_seconds"] / 3600
    assert body["cost"]["usd"] == pytest.approx(gpu.tdp_w * pue / 1000 * 0.2 * hours)
    assert "electricity only" in body["cost"]["price_source"]


def test_buy_amortizes_gpus_and_host(client: TestClient) -> None:
    own = _estimate(client, "nvidia-geforce-rtx-4090", 1, acquisition="own").json()
    buy = _estimate(client, "nvidia-geforce-rtx-4090", 1, acquisition="buy").json()
    assert "bought" in buy["cost"]["price_source"]
    assert buy["cost"]["usd"] > own["cost"]["usd"]


def test_negative_electricity_price_is_a_422(client: TestClient) -> None:
    response = _estimate(client, "nvidia-geforce-rtx-4090", 1, acquisition="own", usd_per_kwh=-1)
    assert response.status_code == 422
    assert "body.usd_per_kwh" in response.text
