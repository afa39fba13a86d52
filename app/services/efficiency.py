"""Achievable fractions of peak for a GPU: measured by probes, published, or vendor defaults.

One function, `efficiency_for`, gives the efficiency every estimate uses (`/estimate` and
`/recommend` alike); `measured_efficiencies` reads what the probes measured, once per request.

Measured figures are robust to one bad run: for each GPU model the newest
`MEDIAN_OF_LAST_RUNS` accepted runs (succeeded, not retracted, within the plausibility bounds
checked at submission) are taken, each run gives its best figure per dtype, and the median over
runs is used. Matmul figures are per dtype (a bf16 measurement never stands for fp8 or fp32) and
only GEMMs the probe verified from the compiled HLO count; attention counts only verified fused
(cuDNN) kernels, never XLA's unfused path.

This module does not import `app.services.estimate` (the caller passes the `GpuSpec`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from app.estimator.hardware import (
    AttentionPoint,
    Efficiency,
    GemmPoint,
    GpuSpec,
    default_efficiency,
)
from app.models import ProbeResult, ProbeRun
from app.repositories import probes as probes_repo
from app.services.catalog import LoadedCatalog

# Runs per GPU model whose median is used: one outlier among 5 cannot move it.
MEDIAN_OF_LAST_RUNS = 5
# Workload precision -> the probe dtype whose matmul measures it.
PROBE_DTYPE = {"fp32": "fp32", "tf32": "tf32", "bf16": "bf16", "fp16": "fp16", "fp8": "fp8"}


@dataclass(frozen=True)
class MeasuredGpu:
    """What accepted probe runs measured on one GPU model (medians over runs)."""

    gpu_id: str
    run_ids: tuple[int, ...]
    matmul_tflops: dict[str, float] = field(default_factory=dict)  # per dtype
    bandwidth_gb_s: float | None = None
    fused_attention_tflops: dict[str, float] = field(default_factory=dict)  # per dtype
    gemm_sweep: tuple[GemmPoint, ...] = ()
    attention_sweep: tuple[AttentionPoint, ...] = ()

    @property
    def source(self) -> str:
        return "probe:" + ",".join(str(i) for i in self.run_ids)


def _ok(result: ProbeResult) -> bool:
    return result.error is None and not (result.data or {}).get("skipped")


def verified_matmul(result: ProbeResult) -> bool:
    """A matmul result whose GEMM the probe did not find wrong (older probes did not check)."""
    return (
        result.probe == "matmul" and _ok(result) and result.data.get("gemm_verified") is not False
    )


def verified_fused_attention(result: ProbeResult) -> bool:
    """An attention result that ran a fused kernel the probe found in the compiled module."""
    data = result.data or {}
    return (
        result.probe == "attention"
        and _ok(result)
        and data.get("implementation") == "fused"
        and data.get("fused_verified") is True
    )


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _best_per_run(
    runs: Sequence[ProbeRun], keep: Callable[[ProbeResult], bool], value: str
) -> dict[str, list[float]]:
    """dtype -> each run's best `value` among results `keep(result)` accepts."""
    per_dtype: dict[str, list[float]] = {}
    for run in runs:
        best: dict[str, float] = {}
        for r in run.results:
            figure = getattr(r, value)
            if keep(r) and figure and r.dtype:
                best[r.dtype] = max(best.get(r.dtype, 0.0), float(figure))
        for dtype, figure in best.items():
            per_dtype.setdefault(dtype, []).append(figure)
    return per_dtype


def _int(data: dict[str, object], key: str) -> int | None:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) and value > 0 else None


def summarize(gpu_id: str, runs: Sequence[ProbeRun]) -> MeasuredGpu:
    """Medians over `runs` (one GPU model's newest accepted runs)."""
    matmul = _best_per_run(runs, verified_matmul, "tflops")
    attention = _best_per_run(runs, verified_fused_attention, "tflops")
    bandwidth = [
        max(float(r.gb_s) for r in run.results if r.probe == "bandwidth" and _ok(r) and r.gb_s)
        for run in runs
        if any(r.probe == "bandwidth" and _ok(r) and r.gb_s for r in run.results)
    ]
    gemm: dict[tuple[int, int, int, str], list[float]] = {}
    attn: dict[tuple[int, int, str, str], list[float]] = {}
    for run in runs:
        for r in run.results:
            data = r.data or {}
            if verified_matmul(r) and r.tflops and r.dtype:
                m, n, k = _int(data, "m"), _int(data, "n"), _int(data, "k")
                if m and n and k:
                    gemm.setdefault((m, n, k, r.dtype), []).append(float(r.tflops))
            elif r.probe == "attention" and _ok(r) and r.tflops and r.dtype and data.get("causal"):
                seq_len, head_dim = _int(data, "seq_len"), _int(data, "head_dim")
                fused = verified_fused_attention(r)
                if seq_len and head_dim and (fused or data.get("implementation") == "unfused"):
                    key = (seq_len, head_dim, r.dtype, "fused" if fused else "unfused")
                    attn.setdefault(key, []).append(float(r.tflops))
    return MeasuredGpu(
        gpu_id=gpu_id,
        run_ids=tuple(run.id for run in runs),
        matmul_tflops={d: statistics.median(v) for d, v in matmul.items()},
        bandwidth_gb_s=_median(bandwidth),
        fused_attention_tflops={d: statistics.median(v) for d, v in attention.items()},
        gemm_sweep=tuple(
            GemmPoint(m, n, k, dtype, statistics.median(v))
            for (m, n, k, dtype), v in sorted(gemm.items())
        ),
        attention_sweep=tuple(
            AttentionPoint(s, d, dtype, impl, statistics.median(v))
            for (s, d, dtype, impl), v in sorted(attn.items())
        ),
    )


def measured_efficiencies(
    session: Session, gpu_ids: Iterable[str] | None = None
) -> dict[str, MeasuredGpu]:
    """Probe measurements per GPU model (all models, or those in `gpu_ids`), one query."""
    wanted = list(gpu_ids) if gpu_ids is not None else None
    runs = probes_repo.latest_accepted_runs(session, MEDIAN_OF_LAST_RUNS, wanted)
    return {gpu_id: summarize(gpu_id, gpu_runs) for gpu_id, gpu_runs in runs.items()}


def _published(spec: GpuSpec, precision: str, catalog: LoadedCatalog) -> Efficiency:
    """Published micro-benchmarks (catalog/efficiency.yaml) re-expressed against this catalog's
    dense peak, else vendor defaults."""
    base = default_efficiency(spec)
    data = catalog.efficiency

    def published_matmul(dtype: str) -> tuple[float | None, list[Any]]:
        peak = spec.peak_tflops.get(dtype) or (
            spec.peak_tflops.get("fp16") if dtype == "bf16" else None
        )
        rows = [m for m in data.matmul if m.covers(spec.id) and m.dtype == dtype]
        return (_capped_median([m.achieved_tflops / peak for m in rows]) if peak else None), rows

    # 16-bit and fp8 matmuls each get their own published fraction: fp8 training runs the
    # linear layers in fp8 and attention and the LM head in bf16.
    matmul, matmul_rows = published_matmul("bf16")
    fp8_matmul, fp8_rows = published_matmul("fp8") if precision == "fp8" else (None, [])
    bandwidth_rows = [b for b in data.bandwidth if b.covers(spec.id)]
    bandwidth = _capped_median(
        [b.achieved_gb_s / spec.memory_bandwidth_gb_s for b in bandwidth_rows]
    )
    sweep = published_gemm_sweep(spec, catalog)
    if matmul is None and bandwidth is None and fp8_matmul is None:
        return replace(base, gemm_sweep=sweep) if sweep else base
    cited = "; ".join(sorted({r.source.title for r in [*matmul_rows, *fp8_rows, *bandwidth_rows]}))
    return Efficiency(
        matmul_fraction=matmul or base.matmul_fraction,
        bandwidth_fraction=bandwidth or base.bandwidth_fraction,
        attention_fraction=base.attention_fraction,
        overhead_s=base.overhead_s,
        allreduce_fraction=base.allreduce_fraction,
        fp8_matmul_fraction=fp8_matmul or base.fp8_matmul_fraction,
        source=f"published:{cited}",
        gemm_sweep=sweep,
    )


def published_gemm_sweep(spec: GpuSpec, catalog: LoadedCatalog) -> tuple[GemmPoint, ...]:
    """Published GEMM size sweeps of this GPU (catalog/efficiency.yaml `size_curves`: cuBLASLt
    sweeps of the Azure AI benchmarking guide and others), as measured points. An fp16 sweep
    also stands for bf16 where the datasheet gives both the same tensor peak."""
    curves = (catalog.efficiency.model_extra or {}).get("size_curves") or []
    points: list[GemmPoint] = []
    for curve in curves:
        if not isinstance(curve, dict) or "points" not in curve:
            continue
        if curve.get("gpu") != spec.id and spec.id not in (curve.get("applies_to") or []):
            continue
        dtypes = [str(curve.get("dtype"))]
        if dtypes[0] == "fp16" and spec.peak_tflops.get("bf16") == spec.peak_tflops.get("fp16"):
            dtypes.append("bf16")
        for p in curve["points"]:
            for dtype in dtypes:
                points.append(
                    GemmPoint(int(p["m"]), int(p["n"]), int(p["k"]), dtype, float(p["tflops"]))
                )
    return tuple(points)


def _capped_median(values: Sequence[float]) -> float | None:
    return min(1.0, statistics.median(values)) if values else None


def efficiency_for(
    spec: GpuSpec, precision: str, catalog: LoadedCatalog, measured: MeasuredGpu | None = None
) -> Efficiency:
    """Achievable fractions for this GPU at this precision: probe medians of the GPU model where
    they cover the precision's dtype, else published micro-benchmarks, else vendor defaults."""
    fallback = _published(spec, precision, catalog)
    if measured is None:
        return fallback
    # fp8 training runs the linear layers in fp8 and attention and the LM head in 16-bit: each
    # gets its own measured fraction, and a dtype nobody measured keeps the published one.
    dtype16 = "bf16" if precision == "fp8" else PROBE_DTYPE.get(precision)
    matmul = _fraction(measured.matmul_tflops, spec, dtype16)
    fp8_matmul = _fraction(measured.matmul_tflops, spec, "fp8") if precision == "fp8" else None
    if matmul is None and fp8_matmul is None:
        return fallback  # nothing measured at this precision: never borrow another dtype's
    attention = _fraction(measured.fused_attention_tflops, spec, dtype16)
    bandwidth = measured.bandwidth_gb_s
    dtypes = {dtype16, "fp8" if precision == "fp8" else dtype16}
    gemm_sweep = tuple(p for p in measured.gemm_sweep if p.dtype in dtypes)
    return Efficiency(
        matmul_fraction=matmul or fallback.matmul_fraction,
        bandwidth_fraction=min(1.0, bandwidth / spec.memory_bandwidth_gb_s)
        if bandwidth
        else fallback.bandwidth_fraction,
        attention_fraction=attention or fallback.attention_fraction,
        overhead_s=fallback.overhead_s,
        allreduce_fraction=fallback.allreduce_fraction,
        fp8_matmul_fraction=fp8_matmul or fallback.fp8_matmul_fraction,
        source=measured.source
        if precision != "fp8" or fp8_matmul is not None
        else f"{fallback.source}; 16-bit ops {measured.source}",
        gemm_sweep=gemm_sweep or fallback.gemm_sweep,
        attention_sweep=tuple(p for p in measured.attention_sweep if p.dtype in dtypes),
    )


def _fraction(tflops_by_dtype: dict[str, float], spec: GpuSpec, dtype: str | None) -> float | None:
    """A measured rate of `dtype` as a fraction of the catalog's dense peak (capped at 1)."""
    peak = spec.peak_tflops.get(dtype) if dtype else None
    rate = tflops_by_dtype.get(dtype) if dtype else None
    return min(1.0, rate / peak) if rate and peak else None


def best_rate(
    results: Sequence[ProbeResult], probe: str, field: str, dtype: str | None = None
) -> float | None:
    """The highest `field` among one probe's successful results (of `dtype`, if given)."""
    values = [
        float(getattr(r, field))
        for r in results
        if r.probe == probe
        and r.error is None
        and getattr(r, field)
        and (dtype is None or r.dtype == dtype)
    ]
    return max(values) if values else None


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
    """(work, seconds per call) points of one probe's size sweep (FLOPs or bytes per call).

    `median_s` is already per call (probes.timing divides each sample by its calls once), so it
    is used as is; dividing by `calls_per_sample` again made small sizes look 1000x faster.
    """
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
        if isinstance(work, int | float) and work > 0:
            points.append((float(work), float(r.median_s)))
    return points
