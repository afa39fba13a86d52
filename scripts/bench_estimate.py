"""Benchmark: POST /api/v1/estimate answered in-process (target < 5 ms per request).

Runs the FastAPI app in-process with TestClient (no network), warms up, then times N requests
for a few representative bodies and prints median and p95 latency per body, with the pure
estimator call (no HTTP, no validation) as the baseline in the same run.

    .venv/bin/python scripts/bench_estimate.py [--repeats 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.schemas.estimate import EstimateRequest
from app.services.catalog import load_catalog
from app.services.estimate import run_estimate

BODIES = {
    "llama-2-7b pretrain 8xH100": {
        "model": {"preset": "llama-2-7b"},
        "workload": {"task": "pretrain", "seq_len": 4096, "global_batch": 1024, "tokens": 2e12,
                     "parallelism": {"zero_stage": 1}},
        "hardware": {"gpu": "nvidia-h100-sxm", "count": 8},
    },
    "llama-2-70b finetune on a 4090 (does not fit)": {
        "model": {"preset": "llama-2-70b"},
        "workload": {"task": "finetune"},
        "hardware": {"gpu": "nvidia-geforce-rtx-4090"},
    },
    "mixtral inference tp2": {
        "model": {"preset": "mixtral-8x7b"},
        "workload": {"task": "inference", "parallelism": {"tensor": 2},
                     "inference": {"prompt_tokens": 1024, "output_tokens": 256, "batch": 16}},
        "hardware": {"gpu": "nvidia-a100-sxm4-80gb", "count": 2},
    },
}  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "catalog")
    with tempfile.TemporaryDirectory() as tmp:
        from app import migrate

        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        app = create_app(Settings(database_url=url, rate_limit_enabled=False, log_json=False))
        with TestClient(app) as client:
            print(
                f"{'request':48s} {'HTTP median ms':>15s} {'HTTP p95 ms':>12s} {'core median ms':>15s} {'ratio':>6s}"
            )
            for name, body in BODIES.items():
                for _ in range(20):
                    assert client.post("/api/v1/estimate", json=body).status_code == 200
                http: list[float] = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    response = client.post("/api/v1/estimate", json=body)
                    http.append((time.perf_counter() - start) * 1e3)
                    assert response.status_code == 200
                request = EstimateRequest.model_validate(body)
                core: list[float] = []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    run_estimate(request, catalog)
                    core.append((time.perf_counter() - start) * 1e3)
                h, c = statistics.median(http), statistics.median(core)
                print(f"{name:48s} {h:15.2f} {_percentile(http, 95):12.2f} {c:15.2f} {h / c:6.2f}")
    print("target: HTTP median < 5 ms per request")


if __name__ == "__main__":
    main()
