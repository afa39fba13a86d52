"""Benchmark: serving estimates and recommendations (targets: estimate < 200 ms for 2,000
simulated requests; recommend over the catalog < 2 s).

Runs the app in-process (TestClient, no network) and times, after a warm-up:
- POST /api/v1/estimate with task "serve" (2,000 simulated requests plus the capacity search),
- the simulation alone for the same stream (the core of that request),
- POST /api/v1/recommend with task "serve" over the whole catalog,
- as the baseline in the same run, POST /api/v1/estimate for the static inference task.

    .venv/bin/python scripts/bench_serving.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

SERVE = {
    "model": {"preset": "llama-3.1-8b"},
    "workload": {"task": "serve", "serving": {"prompt_tokens": 512, "output_tokens": 256,
                 "distribution": "sharegpt", "concurrency": 50, "num_requests": 2000,
                 "weight_precision": "fp8"}},
    "hardware": {"gpu": "nvidia-l4"},
}  # fmt: skip
SERVE_RATE = {
    "model": {"preset": "llama-3.1-8b"},
    "workload": {"task": "serve", "serving": {"prompt_tokens": 512, "output_tokens": 256,
                 "request_rate": 20.0, "num_requests": 2000}},
    "hardware": {"gpu": "nvidia-h100-sxm"},
}  # fmt: skip
STATIC = {
    "model": {"preset": "llama-3.1-8b"},
    "workload": {"task": "inference", "inference": {"prompt_tokens": 512, "output_tokens": 256,
                 "batch": 50}},
    "hardware": {"gpu": "nvidia-l4"},
}  # fmt: skip
RECOMMEND = {
    "model": {"preset": "llama-3.1-8b"},
    "workload": {"task": "serve", "serving": {"prompt_tokens": 512, "output_tokens": 256,
                 "request_rate": 5.0}},
    "constraints": {"max_gpus": 8},
}  # fmt: skip


def _time(call: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median and worst wall-clock ms, and median CPU ms of this process (what the request
    costs without other processes competing for the cores)."""
    call()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), max(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        from app import migrate

        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        app = create_app(Settings(database_url=url, rate_limit_enabled=False, log_json=False))
        with TestClient(app) as client:

            def post(path: str, body: dict[str, object]) -> Callable[[], object]:
                def call() -> object:
                    response = client.post(path, json=body)
                    assert response.status_code == 200, response.text
                    return response

                return call

            from app.estimator.model import shape_from_preset_architecture
            from app.estimator.serving import ServingSetup, simulate
            from app.estimator.serving_estimate import prepare, traffic_for
            from app.estimator.workload import Workload
            from app.services.catalog import load_catalog
            from app.services.efficiency import efficiency_for
            from app.services.estimate import gpu_spec

            catalog = load_catalog(Path(__file__).resolve().parents[1] / "catalog")
            preset = catalog.model("llama-3.1-8b")
            assert preset is not None
            shape = shape_from_preset_architecture(preset.kind, preset.architecture)
            gpu = catalog.gpu("nvidia-l4")
            assert gpu is not None
            spec = gpu_spec(gpu)
            cfg = Workload.model_validate(SERVE["workload"]).serving_config
            prepared = prepare(
                ServingSetup(shape, spec, efficiency_for(spec, "bf16", catalog), 1, "vllm", "fp8")
            )

            def core() -> object:
                return simulate(
                    prepared.setup,
                    traffic_for(cfg, 1),
                    model=prepared.model,
                    capacity=prepared.capacity,
                )

            rows = [
                ("baseline: static inference estimate (HTTP)", post("/api/v1/estimate", STATIC)),
                ("serve estimate, 50 users on an L4 (HTTP)", post("/api/v1/estimate", SERVE)),
                (
                    "serve estimate, 20 req/s on an H100 (HTTP)",
                    post("/api/v1/estimate", SERVE_RATE),
                ),
                ("  core: one simulation of the 2,000 requests", core),
                ("serve recommend over the catalog (HTTP)", post("/api/v1/recommend", RECOMMEND)),
            ]
            baseline = None
            print(
                f"{'what':48s} {'median ms':>10s} {'max ms':>9s} {'CPU ms':>8s} {'x baseline':>11s}"
            )
            for name, call in rows:
                median, worst, cpu = _time(call, args.repeats)
                baseline = baseline or median
                print(
                    f"{name:48s} {median:10.1f} {worst:9.1f} {cpu:8.1f} {median / baseline:11.1f}"
                )
            print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
