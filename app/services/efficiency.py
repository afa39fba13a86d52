"""Achievable fractions of peak for a GPU: measured by probes, published, or vendor defaults."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.estimator.hardware import Efficiency, GpuSpec, default_efficiency
from app.models import ProbeResult
from app.repositories import probes as probes_repo
from app.services.catalog import LoadedCatalog


@dataclass(frozen=True)
class ProbeEfficiency:
    """Measured fractions of peak for one GPU model (from stored probe runs)."""

    gpu_id: str
    matmul_fraction: float | None
    bandwidth_fraction: float | None
    attention_fraction: float | None
    run_id: int


def _median_fraction(values: Sequence[float]) -> float | None:
    return min(1.0, statistics.median(values)) if values else None


def efficiency_for(
    spec: GpuSpec, precision: str, catalog: LoadedCatalog, probe: ProbeEfficiency | None = None
) -> Efficiency:
    """Achievable fractions for this GPU: probe measurements of the GPU model when the database
    has them, else published micro-benchmarks (catalog/efficiency.yaml), else vendor defaults.
    Published figures are re-expressed against this catalog's own dense peak."""
    base = default_efficiency(spec)
    if probe is not None and probe.matmul_fraction:
        return Efficiency(
            matmul_fraction=min(1.0, probe.matmul_fraction),
            bandwidth_fraction=min(1.0, probe.bandwidth_fraction or base.bandwidth_fraction),
            attention_fraction=min(1.0, probe.attention_fraction or base.attention_fraction),
            overhead_s=base.overhead_s,
            allreduce_fraction=base.allreduce_fraction,
            fp8_matmul_fraction=base.fp8_matmul_fraction,
            source=f"probe:{probe.run_id}",
        )
    data = catalog.efficiency

    def published_matmul(dtype: str) -> tuple[float | None, list[Any]]:
        peak = spec.peak_tflops.get(dtype) or (
            spec.peak_tflops.get("fp16") if dtype == "bf16" else None
        )
        rows = [m for m in data.matmul if m.covers(spec.id) and m.dtype == dtype]
        return (_median_fraction([m.achieved_tflops / peak for m in rows]) if peak else None), rows

    # 16-bit and fp8 matmuls each get their own published fraction: fp8 training runs the
    # linear layers in fp8 and attention and the LM head in bf16.
    matmul, matmul_rows = published_matmul("bf16")
    fp8_matmul, fp8_rows = published_matmul("fp8") if precision == "fp8" else (None, [])
    bandwidth_rows = [b for b in data.bandwidth if b.covers(spec.id)]
    bandwidth = _median_fraction(
        [b.achieved_gb_s / spec.memory_bandwidth_gb_s for b in bandwidth_rows]
    )
    if matmul is None and bandwidth is None and fp8_matmul is None:
        return base
    cited = "; ".join(sorted({r.source.title for r in [*matmul_rows, *fp8_rows, *bandwidth_rows]}))
    return Efficiency(
        matmul_fraction=matmul or base.matmul_fraction,
        bandwidth_fraction=bandwidth or base.bandwidth_fraction,
        attention_fraction=base.attention_fraction,
        overhead_s=base.overhead_s,
        allreduce_fraction=base.allreduce_fraction,
        fp8_matmul_fraction=fp8_matmul or base.fp8_matmul_fraction,
        source=f"published:{cited}",
    )


def best_rate(
    results: list[ProbeResult], probe: str, field: str, dtype: str | None = None
) -> float | None:
    values = [
        getattr(r, field)
        for r in results
        if r.probe == probe
        and r.error is None
        and getattr(r, field)
        and (dtype is None or r.dtype == dtype)
    ]
    return max(values) if values else None


def fractions(
    results: list[ProbeResult], spec: GpuSpec, dtype: str = "bf16"
) -> dict[str, float | None]:
    """Measured rates as fractions of the catalog's dense peaks."""
    peak = spec.peak_tflops.get(dtype)
    matmul = best_rate(results, "matmul", "tflops", dtype)
    attention = best_rate(results, "attention", "tflops", dtype)
    bandwidth = best_rate(results, "bandwidth", "gb_s")
    return {
        "matmul": matmul / peak if matmul and peak else None,
        "attention": attention / peak if attention and peak else None,
        "bandwidth": bandwidth / spec.memory_bandwidth_gb_s if bandwidth else None,
    }


def probe_efficiency(
    session: Session, gpu_id: str, catalog: LoadedCatalog
) -> ProbeEfficiency | None:
    """Efficiency measured on this GPU model by the newest succeeded run, if any."""
    from app.services.estimate import gpu_spec

    run_id = probes_repo.latest_succeeded_run_id(session, gpu_id)
    gpu = catalog.gpu(gpu_id)
    if run_id is None or gpu is None:
        return None
    run = probes_repo.get_run(session, run_id)
    if run is None:
        return None
    f = fractions(list(run.results), gpu_spec(gpu))
    if f["matmul"] is None:
        return None
    return ProbeEfficiency(gpu_id, f["matmul"], f["bandwidth"], f["attention"], run_id)


def fit_latency_throughput(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares fit of t = t0 + work / rate to (work, seconds) points of a size sweep.

    Returns (rate in work/s, t0 in s), t0 clamped at 0; None with fewer than two sizes or a
    non-positive slope (noise larger than the size effect).
    """
    sizes = {w for w, _ in points}
    if len(sizes) < 2:
        return None
    n = len(points)
    mean_w = sum(w for w, _ in points) / n
    mean_t = sum(t for _, t in points) / n
    var = sum((w - mean_w) ** 2 for w, _ in points)
    slope = sum((w - mean_w) * (t - mean_t) for w, t in points) / var
    if slope <= 0:
        return None
    t0 = max(0.0, mean_t - slope * mean_w)
    return 1.0 / slope, t0


def sweep(
    results: Sequence[ProbeResult], probe: str, dtype: str | None, work_key: str
) -> list[tuple[float, float]]:
    """(work, median seconds) points of one probe's size sweep (FLOPs or bytes per call)."""
    points = []
    for r in results:
        if (
            r.probe != probe
            or r.error is not None
            or not r.median_s
            or (dtype is not None and r.dtype != dtype)
        ):
            continue
        work = r.data.get(work_key)
        calls = r.data.get("calls_per_sample") or 1
        if isinstance(work, int | float) and work > 0:
            points.append((float(work), float(r.median_s) / float(calls)))
    return points
