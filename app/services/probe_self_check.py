"""The probes' self-check: predict the train_step probe's step with the estimator on the device
the run measured, and compare with the measured step time."""

from __future__ import annotations

from typing import Any

from app.estimator.estimate import EstimateContext, ModelDescription, estimate
from app.estimator.hardware import Efficiency, GpuSpec
from app.estimator.model import TransformerShape
from app.estimator.workload import Workload
from app.models import ProbeRun
from app.schemas.probes import SelfCheck
from app.services.catalog import LoadedCatalog
from app.services.efficiency import (
    best_rate,
    efficiency_for,
    fit_latency_throughput,
    summarize,
    sweep,
)
from app.services.estimate import gpu_spec


def _device_spec(
    run: ProbeRun, catalog: LoadedCatalog, dtype: str
) -> tuple[GpuSpec, Efficiency, str] | None:
    """The device as the estimator sees it: the matched catalog GPU with this run's measured
    efficiency, or (unmatched, e.g. the host CPU) a spec whose peaks are the measured rates."""
    results = list(run.results)
    if run.gpu_id and (gpu := catalog.gpu(run.gpu_id)) is not None:
        spec = gpu_spec(gpu)
        eff = efficiency_for(spec, dtype, catalog, summarize(run.gpu_id, [run]))
        return spec, eff, f"{gpu.name} with this run's measured efficiency"
    # Unmatched (e.g. the host CPU): fit t = t0 + work / rate to the probe's own size sweeps,
    # so the "peak" is the measured large-size rate and t0 the measured per-call cost.
    matmul_fit = fit_latency_throughput(sweep(results, "matmul", dtype, "flops"))
    best_matmul = best_rate(results, "matmul", "tflops", dtype)
    best_bandwidth = best_rate(results, "bandwidth", "gb_s")
    if not best_matmul or not best_bandwidth:
        return None
    matmul_tflops = matmul_fit[0] / 1e12 if matmul_fit else best_matmul
    bandwidth_gb_s = best_bandwidth  # one size per kernel: no sweep to fit
    attention = best_rate(results, "attention", "tflops", dtype) or matmul_tflops
    device = run.device or {}
    memory_gb = (
        float(device.get("memory_total_bytes") or device.get("memory_limit_bytes") or 2**36) / 2**30
    )
    spec = GpuSpec(
        id="probe-device", name=run.device_kind or "probe device", vendor="other", architecture="host",
        segment="host", memory_gib=memory_gb, memory_bandwidth_gb_s=bandwidth_gb_s,
        peak_tflops={dtype: matmul_tflops}, tdp_w=0.0, platform=run.backend or "cpu",
    )  # fmt: skip
    eff = Efficiency(
        matmul_fraction=1.0,
        bandwidth_fraction=1.0,
        attention_fraction=min(1.0, attention / matmul_tflops),
        overhead_s=matmul_fit[1] if matmul_fit else 0.0,
        memory_op_overhead_s=0.0,  # XLA fuses elementwise steps into the neighbouring kernels
        allreduce_fraction=1.0,
        source=f"probe:{run.id}",
    )
    return (
        spec,
        eff,
        (
            f"unmatched device: matmul {matmul_tflops:.3g} TFLOP/s + {eff.overhead_s * 1e3:.2f} ms per call "
            f"(fitted to this run's matmul sizes), memory {bandwidth_gb_s:.3g} GB/s (best measured)"
        ),
    )


def self_check(run: ProbeRun, catalog: LoadedCatalog) -> SelfCheck | None:
    """Predict the train_step probe's step with the estimator on the same device and compare."""
    step = next(
        (r for r in run.results if r.probe == "train_step" and r.error is None and r.median_s), None
    )
    if step is None:
        return None
    data = step.data
    nested = data.get("model")
    dims: dict[str, Any] = nested if isinstance(nested, dict) else data
    try:
        shape = TransformerShape(
            layers=int(dims["layers"]),
            hidden_size=int(dims["hidden_size"]),
            heads=int(dims["heads"]),
            kv_heads=int(dims.get("kv_heads") or dims["heads"]),
            ffn_hidden_size=int(dims["ffn_hidden_size"]),
            vocab_size=int(dims["vocab_size"]),
            gated_ffn=True,
        )
        dtype = str(dims.get("dtype") or step.dtype or "fp32")
        workload = Workload(
            task="pretrain",
            precision=dtype,
            seq_len=int(dims["seq_len"]),
            micro_batch=int(dims["batch"]),
            flash_attention=False,  # jax.nn.dot_product_attention's XLA path materializes scores
            fused_kernels=True,  # XLA fuses the elementwise steps
            master_weights=False,
        )
    except (KeyError, TypeError, ValueError):
        return None
    device = _device_spec(run, catalog, dtype)
    if device is None:
        return None
    spec, eff, basis = device
    predicted = estimate(
        ModelDescription("train_step probe", shape), workload, EstimateContext(gpu=spec, count=1, efficiency=eff),
        detailed=False,
    ).time.step_seconds  # fmt: skip
    measured = float(step.median_s or 0.0)
    return SelfCheck(
        measured_step_s=measured,
        predicted_step_s=predicted,
        error_pct=100.0 * (predicted - measured) / measured,
        basis=basis,
    )
