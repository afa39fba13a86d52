"""A submission cannot poison the estimates: the server re-identifies the device, bounds every
figure, keeps partitions and power-capped cards apart, uses the median of the last runs per
dtype (never another dtype's, never unfused attention as fused), /recommend and /estimate agree,
and a run can be retracted."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import ProbeResult, ProbeRun
from app.schemas.recommend import RecommendRequest
from app.services.catalog import LoadedCatalog
from app.services.efficiency import (
    MEDIAN_OF_LAST_RUNS,
    efficiency_for,
    measured_efficiencies,
    summarize,
    sweep,
)
from app.services.estimate import gpu_spec
from app.services.recommend import recommend

AUTH = {"Authorization": "Bearer test-token"}
H100_PEAK_BF16 = 989.4
H100 = {
    "backend": "gpu",
    "platform": "cuda",
    "device_kind": "NVIDIA H100 80GB HBM3",
    "device_count": 1,
    "catalog_id": "nvidia-h100-sxm",
}


def _submission(
    matmul_tflops: float = 700.0,
    *,
    dtype: str = "bf16",
    gb_s: float = 3000.0,
    device: dict[str, Any] | None = None,
    attention: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "device": device or dict(H100),
        "results": [
            {"probe": "matmul", "dtype": dtype, "size": "8192x8192x8192", "tflops": matmul_tflops,
             "median_s": 0.0016, "m": 8192, "n": 8192, "k": 8192, "gemm_verified": True},
            {"probe": "bandwidth", "dtype": "fp32", "size": "1GiB", "gb_s": gb_s, "median_s": 0.0007},
            *(attention or []),
        ],
    }  # fmt: skip


def _estimate(client: TestClient, precision: str = "bf16") -> dict[str, Any]:
    response = client.post(
        "/api/v1/estimate",
        json={
            "model": {"preset": "llama-2-7b"},
            "hardware": {"gpu": "nvidia-h100-sxm"},
            "workload": {"precision": precision},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def _submit(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/probe-results", json=body, headers=AUTH)


def test_a_cpu_claiming_to_be_an_h100_is_refused_naming_the_field(client: TestClient) -> None:
    body = _submission(
        device={"backend": "cpu", "device_kind": "cpu", "catalog_id": "nvidia-h100-sxm"}
    )
    response = _submit(client, body)
    assert response.status_code == 422
    assert "device.catalog_id" in response.json()["error"]
    assert response.json()["detail"][0]["loc"] == ["body", "device", "catalog_id"]
    assert _estimate(client)["time"]["efficiency_source"].startswith("published")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_submission(1e-300), "results.0.tflops"),  # made the H100 step 5.8e302 s before
        (_submission(0.02 * H100_PEAK_BF16), "results.0.tflops"),  # below 5% of the peak
        (_submission(1.2 * H100_PEAK_BF16), "results.0.tflops"),  # above the dense peak
        (_submission(gb_s=100.0), "results.1.gb_s"),  # 3% of 3350 GB/s
        (_submission(gb_s=5000.0), "results.1.gb_s"),  # above the datasheet
    ],
)
def test_implausible_figures_are_refused_with_422_naming_the_figure(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    before = _estimate(client)
    response = _submit(client, body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]
    after = _estimate(client)
    assert after["time"] == before["time"]  # nothing stored, nothing changed


def test_estimates_use_the_median_of_the_last_runs_not_the_newest(client: TestClient) -> None:
    ids = [_submit(client, _submission(t)).json()["id"] for t in (600.0, 700.0, 650.0)]
    outlier = _submit(client, _submission(0.06 * H100_PEAK_BF16))  # plausible, but an outlier
    assert outlier.status_code == 201
    estimate = _estimate(client)
    assert estimate["time"]["efficiency_source"] == "probe:" + ",".join(
        str(i) for i in [outlier.json()["id"], *reversed(ids)]
    )
    # median of 600, 700, 650 and 59 = 625 TFLOP/s: 63.2% of the 989.4 TFLOP/s peak
    assert any("63.2%" in a or "63%" in a for a in estimate["assumptions"]), estimate["assumptions"]


def test_a_bf16_measurement_is_never_applied_to_fp8_or_fp32(client: TestClient) -> None:
    assert _submit(client, _submission(700.0)).status_code == 201
    assert _estimate(client, "bf16")["time"]["efficiency_source"].startswith("probe:")
    assert not _estimate(client, "fp8")["time"]["efficiency_source"].startswith("probe:")
    assert not _estimate(client, "fp32")["time"]["efficiency_source"].startswith("probe:")


def test_recommend_and_estimate_use_the_same_measured_efficiency(
    client: TestClient, db_session: Session, catalog: LoadedCatalog
) -> None:
    run_id = _submit(client, _submission(700.0)).json()["id"]
    estimate_source = _estimate(client)["time"]["efficiency_source"]
    assert estimate_source == f"probe:{run_id}"
    request = RecommendRequest.model_validate({"model": {"preset": "llama-2-7b"}})
    answer = recommend(request, catalog, measured_efficiencies(db_session))
    sources = {
        o.estimate.time.efficiency_source
        for o in answer.options
        if o.gpu == "nvidia-h100-sxm" and o.estimate is not None
    }
    assert sources == {estimate_source}


def test_a_run_can_be_retracted_only_with_a_token_and_stops_counting(client: TestClient) -> None:
    run_id = _submit(client, _submission(700.0)).json()["id"]
    assert _estimate(client)["time"]["efficiency_source"] == f"probe:{run_id}"
    assert client.delete(f"/api/v1/probe-runs/{run_id}").status_code == 401
    retracted = client.delete(f"/api/v1/probe-runs/{run_id}", headers=AUTH)
    assert retracted.status_code == 200, retracted.text
    assert retracted.json()["retracted_at"] is not None
    assert _estimate(client)["time"]["efficiency_source"].startswith("published")
    listed = client.get("/api/v1/probe-runs").json()
    assert next(r for r in listed if r["id"] == run_id)["retracted_at"] is not None
    assert (
        client.get(f"/api/v1/probe-runs/{run_id}").json()["retracted_by"] == "ADVISOR_API_TOKEN"
    )  # the token's name
    assert client.delete("/api/v1/probe-runs/999999", headers=AUTH).status_code == 404


def test_a_mig_slice_is_stored_apart_from_the_full_gpu(client: TestClient) -> None:
    device = {"backend": "gpu", "device_kind": "NVIDIA H100 80GB HBM3 MIG 1g.10gb"}
    stored = _submit(client, _submission(90.0, device=device))
    assert stored.status_code == 201, stored.text
    assert stored.json()["gpu_id"] is None
    assert stored.json()["partition"] == "MIG 1g.10gb"
    assert _estimate(client)["time"]["efficiency_source"].startswith("published")
    claimed = _submit(client, _submission(90.0, device={**device, "catalog_id": "nvidia-h100-sxm"}))
    assert claimed.status_code == 422


def test_a_power_capped_card_is_kept_apart(client: TestClient) -> None:
    stored = _submit(
        client, _submission(500.0, device={**H100, "catalog_id": None, "power_limit_w": 400.0})
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["gpu_id"] is None
    assert stored.json()["partition"] == "power cap 400 W"


def test_an_mi300x_vf_is_an_mi300x(client: TestClient) -> None:
    device = {
        "backend": "gpu",
        "device_kind": "AMD Instinct MI300X VF",
        "catalog_id": "amd-instinct-mi300x",
    }
    stored = _submit(client, _submission(900.0, device=device, gb_s=4000.0))
    assert stored.status_code == 201, stored.text
    assert stored.json()["gpu_id"] == "amd-instinct-mi300x"


def _run(run_id: int, results: list[dict[str, Any]]) -> ProbeRun:
    run = ProbeRun(id=run_id, status="succeeded", source="remote", gpu_id="nvidia-h100-sxm")
    run.results = [
        ProbeResult(
            probe=r["probe"], dtype=r.get("dtype"), size=r.get("size"), tflops=r.get("tflops"),
            gb_s=r.get("gb_s"), median_s=r.get("median_s"), error=None, data=copy.deepcopy(r),
        )
        for r in results
    ]  # fmt: skip
    return run


def _attention(tflops: float, implementation: str, verified: bool) -> dict[str, Any]:
    return {"probe": "attention", "dtype": "bf16", "size": "b4xs4096xh16xd128", "tflops": tflops,
            "median_s": 0.001, "causal": True, "seq_len": 4096, "head_dim": 128,
            "implementation": implementation, "fused_verified": verified}  # fmt: skip


def test_unfused_attention_is_never_the_fused_efficiency(catalog: LoadedCatalog) -> None:
    spec = gpu_spec(catalog.gpu("nvidia-h100-sxm"))  # type: ignore[arg-type]
    base = efficiency_for(spec, "bf16", catalog)
    unfused = _run(1, _submission(700.0)["results"] + [_attention(120.0, "unfused", False)])
    legacy = _run(2, _submission(700.0)["results"] + [{**_attention(120.0, "x", False)}])
    for run in (unfused, legacy):
        eff = efficiency_for(spec, "bf16", catalog, summarize("nvidia-h100-sxm", [run]))
        assert eff.attention_fraction == base.attention_fraction
    fused = _run(3, _submission(700.0)["results"] + [_attention(480.0, "fused", True)])
    eff = efficiency_for(spec, "bf16", catalog, summarize("nvidia-h100-sxm", [fused]))
    assert eff.attention_fraction == pytest.approx(480.0 / H100_PEAK_BF16)


def test_the_size_sweep_reaches_the_estimator_per_dtype(catalog: LoadedCatalog) -> None:
    spec = gpu_spec(catalog.gpu("nvidia-h100-sxm"))  # type: ignore[arg-type]
    results = _submission(700.0)["results"] + [
        {"probe": "matmul", "dtype": "bf16", "size": "1024x1024x1024", "tflops": 300.0,
         "median_s": 7e-6, "m": 1024, "n": 1024, "k": 1024, "gemm_verified": True},
        {"probe": "matmul", "dtype": "bf16", "size": "2048x2048x2048", "tflops": 900.0,
         "median_s": 2e-5, "m": 2048, "n": 2048, "k": 2048, "gemm_verified": False},
        {"probe": "matmul", "dtype": "fp8", "size": "8192x8192x8192", "tflops": 1200.0,
         "median_s": 1e-3, "m": 8192, "n": 8192, "k": 8192, "gemm_verified": True},
        _attention(480.0, "fused", True),
        _attention(120.0, "unfused", False),
    ]  # fmt: skip
    runs = [_run(i, results) for i in range(1, 4)]
    eff = efficiency_for(spec, "bf16", catalog, summarize("nvidia-h100-sxm", runs))
    assert [(p.m, p.dtype, p.achieved_tflops) for p in eff.gemm_sweep] == [
        (1024, "bf16", 300.0),
        (8192, "bf16", 700.0),
    ]  # the unverified 2048 GEMM and the fp8 point are left out
    assert {(p.implementation, p.achieved_tflops) for p in eff.attention_sweep} == {
        ("fused", 480.0),
        ("unfused", 120.0),
    }
    assert eff.matmul_fraction == pytest.approx(700.0 / H100_PEAK_BF16)


def test_only_the_last_runs_count(catalog: LoadedCatalog) -> None:
    runs = [_run(i, _submission(600.0 + i)["results"]) for i in range(MEDIAN_OF_LAST_RUNS)]
    assert summarize("nvidia-h100-sxm", runs).matmul_tflops["bf16"] == pytest.approx(602.0)


def test_the_sweep_divides_by_the_calls_once() -> None:
    run = _run(1, [{"probe": "matmul", "dtype": "fp32", "size": "64x64x64", "tflops": 0.1,
                    "median_s": 5e-6, "flops": 524288.0, "calls_per_sample": 1000}])  # fmt: skip
    assert sweep(run.results, "matmul", "fp32", "flops") == [(524288.0, 5e-6)]
