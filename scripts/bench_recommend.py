"""Benchmark: POST /api/v1/recommend over the whole catalog (target < 50 ms per request).

Times the recommender service in-process for representative jobs, with one single-GPU estimate
of the same job as the baseline in the same run (the ratio shows what ranking ~100 GPUs costs).

    .venv/bin/python scripts/bench_recommend.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from app.schemas.estimate import EstimateRequest
from app.schemas.recommend import RecommendRequest
from app.services.catalog import load_catalog
from app.services.estimate import run_estimate
from app.services.recommend import recommend

JOBS = {
    "7B QLoRA": {"model": {"preset": "llama-2-7b"}, "workload": {"task": "qlora", "tokens": 1e8}},
    "70B full fine-tune, up to 64 GPUs": {
        "model": {"preset": "llama-2-70b"},
        "workload": {"task": "finetune", "seq_len": 4096, "tokens": 1e9},
        "constraints": {"max_gpus": 64},
    },
    "8B pretrain, cheapest": {
        "model": {"preset": "llama-3-8b"},
        "workload": {"task": "pretrain", "seq_len": 8192, "tokens": 1e11},
        "objective": "cheapest",
    },
    "Mixtral inference": {
        "model": {"preset": "mixtral-8x7b"},
        "workload": {
            "task": "inference",
            "inference": {"prompt_tokens": 1024, "output_tokens": 256, "batch": 8},
        },
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "catalog")
    print(f"{len(catalog.gpus)} GPUs in the catalog")
    print(
        f"{'job':36s} {'recommend median ms':>20s} {'p95 ms':>8s} {'one estimate ms':>16s} {'ratio':>6s}"
    )
    for name, body in JOBS.items():
        request = RecommendRequest.model_validate(body)
        recommend(request, catalog)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            recommend(request, catalog)
            times.append((time.perf_counter() - start) * 1e3)
        single = EstimateRequest.model_validate(
            {
                "model": body["model"],
                "workload": body["workload"],
                "hardware": {"gpu": "nvidia-h100-sxm"},
            }
        )
        base = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run_estimate(single, catalog)
            base.append((time.perf_counter() - start) * 1e3)
        median, one = statistics.median(times), statistics.median(base)
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        print(f"{name:36s} {median:20.1f} {p95:8.1f} {one:16.2f} {median / one:6.0f}")
    print("target: recommend median < 50 ms")


if __name__ == "__main__":
    main()
