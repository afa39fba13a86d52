"""Score the estimator against published measurements (tests/data/validation.yaml).

Each row describes a real run (model, workload, GPUs) and what was measured: throughput, step
time or peak memory. The estimator was not tuned on these rows; they only measure its error.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config import PROJECT_ROOT
from app.errors import AdvisorError
from app.estimator.memory import ALLOCATOR_FRAGMENTATION
from app.estimator.result import Estimate
from app.estimator.workload import Workload
from app.schemas.estimate import HardwareInput, ModelInput
from app.services.catalog import LoadedCatalog
from app.services.estimate import estimate_with, resolve_model

VALIDATION_FILE = PROJECT_ROOT / "tests" / "data" / "validation.yaml"
# Parallelism keys the estimator models; context parallelism is counted as data parallelism
# (both split the tokens of a step across GPUs), virtual stages and schedules are ignored.
_PARALLEL_KEYS = {"tensor", "pipeline", "zero_stage", "virtual_stages", "overlap_tensor_comm"}
MEMORY_UNIT_TO_GB = {"GB": 1.0, "GiB": 2**30 / 1e9, "MiB": 2**20 / 1e6}


@dataclass
class RowResult:
    id: str
    kind: str
    metric: str
    measured: float
    predicted: float | None
    gpu: str
    count: int
    source: str
    note: str = ""

    @property
    def error_pct(self) -> float | None:
        if self.predicted is None:
            return None
        return 100.0 * (self.predicted - self.measured) / self.measured


@dataclass
class ValidationReport:
    rows: list[RowResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def errors(self, kind: str) -> list[float]:
        return [abs(r.error_pct) for r in self.rows if r.kind == kind and r.error_pct is not None]

    def median_abs_error(self, kind: str) -> float | None:
        values = self.errors(kind)
        return statistics.median(values) if values else None


def _workload(row: dict[str, Any]) -> Workload:
    raw = dict(row["workload"])
    parallel = dict(raw.get("parallelism") or {})
    if parallel.get("virtual_pipeline"):
        parallel["virtual_stages"] = parallel["virtual_pipeline"]
    cleaned = {k: v for k, v in parallel.items() if k in _PARALLEL_KEYS and v is not None}
    raw["parallelism"] = cleaned
    if raw.get("optimizer") == "adamw8bit_paged":
        raw["optimizer"] = "adamw-8bit"
    for key in ("micro_batch", "activation_checkpointing", "seq_len", "optimizer"):
        if raw.get(key) is None:
            raw.pop(key, None)
    raw = {k: v for k, v in raw.items() if v is not None}
    return Workload.model_validate(raw)


def _memory_as(est: Estimate, kind: str) -> float:
    """Our memory in the sense the source measured it: `allocated` (live tensors, PyTorch's
    max_memory_allocated), `reserved` (plus the caching allocator's slack), or `device` (plus the
    CUDA context and communicator buffers: what nvidia-smi shows)."""
    parts = est.memory.per_gpu_bytes
    tensors = (
        parts.weights
        + parts.gradients
        + parts.optimizer_states
        + parts.activations
        + parts.kv_cache
    )
    if kind == "allocated":
        return tensors / 1e9
    if kind == "reserved":
        return tensors * (1 + ALLOCATOR_FRAGMENTATION) / 1e9
    return est.memory.total_per_gpu_gb


def _metrics(row: dict[str, Any], est: Estimate, count: int) -> list[tuple[str, str, float, float]]:
    """(kind, metric, measured, predicted) for every figure the row reports that we predict:
    one time figure (throughput, step time or time to first token) and peak memory."""
    measured = row["measured"]
    out: list[tuple[str, str, float, float]] = []
    per_gpu = measured.get("per_gpu_tokens_per_second")
    if per_gpu is None and measured.get("tokens_per_second"):
        per_gpu = measured["tokens_per_second"] / count
    if measured.get("ttft_ms") and est.inference is not None:
        out.append(
            (
                "time",
                "ttft_ms",
                float(measured["ttft_ms"]),
                est.inference.time_to_first_token_s * 1e3,
            )
        )
    elif per_gpu:
        out.append(
            (
                "time",
                "per_gpu_tokens_per_second",
                float(per_gpu),
                est.time.per_gpu_tokens_per_second,
            )
        )
    elif measured.get("step_seconds"):
        out.append(("time", "step_seconds", float(measured["step_seconds"]), est.time.step_seconds))
    elif measured.get("samples_per_second"):
        seq = row["workload"].get("seq_len") or 1
        out.append(
            (
                "time",
                "samples_per_second",
                float(measured["samples_per_second"]),
                est.time.tokens_per_second / seq,
            )
        )
    elif measured.get("per_gpu_tflops"):
        out.append(
            (
                "time",
                "per_gpu_tflops",
                float(measured["per_gpu_tflops"]),
                est.time.model_tflops_per_gpu,
            )
        )
    if measured.get("peak_memory_gb"):
        unit = row.get("peak_memory_unit", "GB")
        kind = row.get("peak_memory_kind", "device")
        measured_gb = float(measured["peak_memory_gb"]) * MEMORY_UNIT_TO_GB[unit]
        out.append(
            ("memory", f"peak_memory_gb ({kind}, {unit})", measured_gb, _memory_as(est, kind))
        )
    return out


def run_validation(catalog: LoadedCatalog, path: Path = VALIDATION_FILE) -> ValidationReport:
    rows = yaml.safe_load(path.read_text())["measurements"]
    report = ValidationReport()
    for row in rows:
        if row.get("exclude"):
            report.skipped.append((row["id"], f"excluded: {row['exclude']}"))
            continue
        try:
            model = resolve_model(ModelInput.model_validate(row["model"]), catalog)
            workload = _workload(row)
            hardware = HardwareInput.model_validate(row["hardware"])
            gpu = catalog.gpu(hardware.gpu)
            if gpu is None:
                raise AdvisorError(f"GPU {hardware.gpu} not in the catalog")
            est = estimate_with(model, workload, gpu, hardware, catalog)
        except (AdvisorError, ValidationError, ValueError) as exc:
            message = exc.message if isinstance(exc, AdvisorError) else str(exc).splitlines()[0]
            report.skipped.append((row["id"], message))
            continue
        metrics = _metrics(row, est, hardware.count)
        if not metrics:
            report.skipped.append((row["id"], "no comparable measured figure"))
            continue
        source = row["source"]
        for kind, name, measured, predicted in metrics:
            report.rows.append(
                RowResult(
                    id=row["id"],
                    kind=kind,
                    metric=name,
                    measured=measured,
                    predicted=predicted,
                    gpu=hardware.gpu,
                    count=hardware.count,
                    source=f"{source['title']} ({source.get('where', '')})",
                    note=row.get("note") or "",
                )
            )
    return report


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


ERROR_BAND_PERCENTILE = 75.0


def error_band_from(report: ValidationReport) -> dict[str, Any]:
    """The band estimates carry: the 75th percentile of |error| over the validation rows, i.e.
    three of four published runs were within it."""
    time_errors, memory_errors = report.errors("time"), report.errors("memory")
    return {
        "time_pct": round(percentile(time_errors, ERROR_BAND_PERCENTILE), 1),
        "memory_pct": round(percentile(memory_errors, ERROR_BAND_PERCENTILE), 1),
        "time_median_pct": round(statistics.median(time_errors), 1),
        "memory_median_pct": round(statistics.median(memory_errors), 1),
        "time_rows": len(time_errors),
        "memory_rows": len(memory_errors),
        "basis": (
            f"{ERROR_BAND_PERCENTILE:.0f}th percentile of |error| against {len(time_errors)} published "
            f"throughput/latency and {len(memory_errors)} peak-memory measurements (gpu-advisor validate)"
        ),
    }


LLM_ANALYSIS_FILE = PROJECT_ROOT / "tests" / "data" / "llm_analysis_results.json"


def llm_analysis_predictions(path: Path = LLM_ANALYSIS_FILE) -> dict[str, dict[str, Any]]:
    """llm-analysis's predictions for validation rows (produced in its own virtual environment by
    scripts/llm_analysis_rows.py), keyed by row id; empty when the file is absent."""
    import json

    if not path.exists():
        return {}
    return {row["id"]: row for row in json.loads(path.read_text())}
