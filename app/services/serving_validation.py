"""Score the serving simulation against published serving benchmarks (the `serving` family).

Rows live in tests/data/validation/serving-<source>.yaml (kind `serving`, INTERFACES.md B).
Each row is re-simulated with its engine, GPU, TP degree, lengths and load; output throughput,
TPOT (or ITL) and TTFT are compared with what the source measured, next to what a static-batch
roofline (prefill every prompt at once, then decode at the mean context) predicts. No constant
of the simulation is fitted to these rows, so every prediction is out of sample; the report
still groups errors by source (leave-one-source-out is then the same as the plain errors).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.config import PROJECT_ROOT
from app.estimator.estimate import ModelDescription
from app.estimator.serving import (
    ENGINES,
    ServingSetup,
    build_iteration_model,
    kv_capacity,
    simulate,
    static_batch_estimate,
)
from app.estimator.serving_estimate import traffic_for
from app.estimator.workload import Workload
from app.schemas.estimate import ModelInput
from app.services.catalog import LoadedCatalog
from app.services.efficiency import efficiency_for
from app.services.estimate import gpu_spec, resolve_model

SERVING_DIR = PROJECT_ROOT / "tests" / "data" / "validation"
# measured key -> (metric family, what of the simulation it is compared with)
METRICS = {
    "output_tokens_per_second": ("throughput", "output_tokens_per_second"),
    "tpot_s_median": ("tpot", "tpot_p50"),
    "tpot_s_mean": ("tpot", "tpot_mean"),
    "itl_s_mean": ("tpot", "tpot_mean"),
    "ttft_s_median": ("ttft", "ttft_p50"),
    "ttft_s_mean": ("ttft", "ttft_mean"),
}


@dataclass
class ServingRowResult:
    id: str
    family: str  # throughput | tpot | ttft
    metric: str
    measured: float
    predicted: float
    static_predicted: float
    group: str

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.predicted - self.measured) / self.measured

    @property
    def static_error_pct(self) -> float:
        return 100.0 * (self.static_predicted - self.measured) / self.measured


@dataclass
class ServingReport:
    rows: list[ServingRowResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def median_abs_error(self, family: str, *, static: bool = False) -> float | None:
        values = [
            abs(r.static_error_pct if static else r.error_pct)
            for r in self.rows
            if r.family == family
        ]
        return statistics.median(values) if values else None

    def groups(self) -> set[str]:
        return {r.group for r in self.rows}


def serving_rows(directory: Path = SERVING_DIR) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(directory.glob("serving-*.yaml")):
        for row in yaml.safe_load(path.read_text())["measurements"]:
            if row.get("kind") == "serving":
                rows.append(row)
    return rows


def _group(row: dict[str, Any]) -> str:
    return str(row.get("source_group") or row["source"]["url"].split("#")[0])


def run_serving_validation(catalog: LoadedCatalog, directory: Path = SERVING_DIR) -> ServingReport:
    report = ServingReport()
    for row in serving_rows(directory):
        if row.get("exclude"):
            report.skipped.append((row["id"], f"excluded: {row['exclude']}"))
            continue
        model = resolve_model(ModelInput.model_validate(row["model"]), catalog)
        gpu = catalog.gpu(row["hardware"]["gpu"])
        if gpu is None or not isinstance(model, ModelDescription):
            report.skipped.append((row["id"], "GPU or model not in the catalog"))
            continue
        workload = Workload.model_validate(row["workload"])
        cfg = workload.serving_config
        spec = gpu_spec(gpu)
        t = workload.parallelism.tensor
        setup = ServingSetup(
            shape=model.shape,
            gpu=spec,
            efficiency=efficiency_for(spec, "bf16", catalog),
            tensor_parallel=t,
            engine=cfg.engine,
            weight_precision=cfg.weight_precision,
            kv_cache_precision=cfg.kv_cache_precision,
        )
        engine = ENGINES[cfg.engine]
        it = build_iteration_model(
            setup, engine.max_batched_tokens(spec.memory_gb) + engine.max_num_seqs
        )
        sim = simulate(setup, traffic_for(cfg, 1), model=it, capacity=kv_capacity(setup))
        batch = max(1, min(cfg.concurrency or 1, engine.max_num_seqs))
        s_ttft, s_tpot, s_tps = static_batch_estimate(
            setup, it, cfg.prompt_tokens, cfg.output_tokens, batch
        )
        simulated = {
            "output_tokens_per_second": sim.output_tokens_per_second,
            "tpot_p50": sim.tpot_s["p50"],
            "tpot_mean": sim.tpot_mean_s,
            "ttft_p50": sim.ttft_s["p50"],
            "ttft_mean": sim.ttft_mean_s,
        }
        static = {
            "output_tokens_per_second": s_tps,
            "tpot_p50": s_tpot,
            "tpot_mean": s_tpot,
            "ttft_p50": s_ttft,
            "ttft_mean": s_ttft,
        }
        for key, value in row["measured"].items():
            if key not in METRICS or value is None:
                continue
            family, ours = METRICS[key]
            report.rows.append(
                ServingRowResult(
                    id=row["id"],
                    family=family,
                    metric=key,
                    measured=float(value),
                    predicted=simulated[ours],
                    static_predicted=static[ours],
                    group=_group(row),
                )
            )
    return report


def format_report(report: ServingReport) -> str:
    lines = [
        f"{'row':52} {'metric':26} {'measured':>10} {'simulated':>10} {'err%':>7} "
        f"{'static':>10} {'err%':>7}"
    ]
    for r in report.rows:
        lines.append(
            f"{r.id:52} {r.metric:26} {r.measured:10.4g} {r.predicted:10.4g} "
            f"{r.error_pct:7.1f} {r.static_predicted:10.4g} {r.static_error_pct:7.1f}"
        )
    lines.append("")
    for family in ("throughput", "tpot", "ttft"):
        sim = report.median_abs_error(family)
        static = report.median_abs_error(family, static=True)
        count = sum(1 for r in report.rows if r.family == family)
        if sim is not None and static is not None:
            lines.append(
                f"{family:10} median |error| over {count:2d} figures: simulation {sim:5.1f}%, "
                f"static-batch roofline {static:5.1f}%"
            )
    lines.append(
        f"{len({r.id for r in report.rows})} rows from {len(report.groups())} sources; "
        "no simulation constant is fitted to them (all out of sample)"
    )
    for row_id, why in report.skipped:
        lines.append(f"skipped {row_id}: {why}")
    return "\n".join(lines)
