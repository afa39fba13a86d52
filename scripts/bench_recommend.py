"""Benchmark: POST /api/v1/recommend over the whole catalog, in-process (target p50 < 10 ms).

For representative jobs, times the recommender service with its default `max_options` (branch
and bound: options that provably cannot rank are pruned by a lower bound) and, in the same run,
two baselines: the same request ranking every option (`max_options` 500, nothing pruned for
lack of rank) and one single-GPU estimate of the same job. Prints p50 and p95 per job and the
ratios, so machines of different speed compare by the ratios.

    .venv/bin/python scripts/bench_recommend.py [--repeats 30] [--acquisition rent|buy]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.schemas.estimate import EstimateRequest
from app.schemas.recommend import RecommendRequest
from app.services.catalog import load_catalog
from app.services.estimate import run_estimate
from app.services.recommend import recommend

JOBS: dict[str, dict[str, Any]] = {
    "8B full fine-tune, 1B tokens": {
        "model": {"preset": "llama-3.1-8b"},
        "workload": {"task": "finetune", "seq_len": 4096, "tokens": 1e9},
    },
    "1.3B pretrain, cheapest": {
        "model": {"parameters": 1.3e9},
        "workload": {"task": "pretrain", "seq_len": 2048, "tokens": 2.6e10},
        "objective": "cheapest",
    },
    "8B chatbot inference": {
        "model": {"preset": "llama-3.1-8b"},
        "workload": {
            "task": "inference",
            "inference": {"prompt_tokens": 1024, "output_tokens": 256, "batch": 8},
        },
    },
    "7B QLoRA": {"model": {"preset": "llama-2-7b"}, "workload": {"task": "qlora", "tokens": 1e8}},
    "70B full fine-tune, up to 64 GPUs, fastest": {
        "model": {"preset": "llama-2-70b"},
        "workload": {"task": "finetune", "seq_len": 4096, "tokens": 1e9},
        "constraints": {"max_gpus": 64},
        "objective": "fastest",
    },
}


def _times_ms(run: Callable[[], object], repeats: int) -> list[float]:
    run()  # warm: imports, market and efficiency caches
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--acquisition", default="rent", choices=["rent", "buy"])
    args = parser.parse_args()
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "catalog")
    print(f"{len(catalog.gpus)} GPUs, {len(catalog.offers)} offers; acquisition {args.acquisition}")
    header = (
        f"{'job':44s} {'p50 ms':>7s} {'p95 ms':>7s} {'all-options p50':>16s} {'ratio':>6s} "
        f"{'one estimate':>13s} {'ratio':>6s} {'estimates':>9s}"
    )
    print(header)
    p50s = []
    for name, body in JOBS.items():
        full_body = {**body, "acquisition": args.acquisition}
        request = RecommendRequest.model_validate(full_body)
        everything = RecommendRequest.model_validate({**full_body, "max_options": 500})
        answer = recommend(request, catalog)
        evaluated = next(a for a in answer.assumptions if "full estimates" in a).split()[0]
        fast = _times_ms(lambda r=request: recommend(r, catalog), args.repeats)  # type: ignore[misc]
        slow = _times_ms(lambda r=everything: recommend(r, catalog), args.repeats)  # type: ignore[misc]
        single = EstimateRequest.model_validate(
            {
                "model": body["model"],
                "workload": body["workload"],
                "hardware": {"gpu": "nvidia-h100-sxm"},
            }
        )
        base = _times_ms(lambda s=single: run_estimate(s, catalog), args.repeats)  # type: ignore[misc]
        p50, all_p50, one = (
            statistics.median(fast),
            statistics.median(slow),
            statistics.median(base),
        )
        p50s.append(p50)
        print(
            f"{name:44s} {p50:7.1f} {_p(fast, 0.95):7.1f} {all_p50:16.1f} {all_p50 / p50:6.1f} "
            f"{one:13.2f} {p50 / one:6.1f} {evaluated:>9s}"
        )
    print(
        f"median p50 over the jobs: {statistics.median(p50s):.1f} ms (target < 10 ms); "
        "ratio = all-options / default, and default / one estimate"
    )


if __name__ == "__main__":
    main()
