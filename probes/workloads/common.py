"""What every workload shares: the run configuration, a probe's cases, and result records.

A probe (`Probe`) turns a `ProbeConfig` into a list of `Case`s; each case runs one measurement
and returns one result record, a JSON-ready dict. Every successful record carries at least
`probe`, `dtype`, `size`, a throughput (`tflops` for compute probes, `gb_s` for bandwidth
probes), the analytic work per call (`flops` or `bytes`), and the timing fields of
`probes.timing.Timing` (`median_s`, `min_s`, `max_s`, `stdev_s`, `iqr_s`, `repeats`, ...). A
case that cannot run says so with `skipped` (a reason); a case that raised is recorded by the
runner with `error`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import jax.numpy as jnp

from probes.device import describe, facts_from_jax, gpu_platform
from probes.timing import Timing

Result = dict[str, Any]
Tier = Literal["full", "quick", "tiny"]  # tiny: test-sized shapes, seconds on a laptop CPU

# (minimum warm-up calls, timed samples) per tier.
TIER_REPEATS: dict[str, tuple[int, int]] = {"full": (1, 20), "quick": (1, 5), "tiny": (1, 3)}
# Warm-up time per tier: calls repeat until this much time has passed, so that clocks ramp and
# caches, allocator and autotuning settle (a GPU needs tenths of a second to reach its boost
# clock). `--quick` on a CPU, whose clock does not ramp under XLA, uses WARMUP_S_QUICK_CPU.
WARMUP_S: dict[str, float] = {"full": 0.5, "quick": 0.5, "tiny": 0.0}
WARMUP_S_QUICK_CPU = 0.1

# Probe dtype names (as the API spells precisions) -> JAX array dtype. tf32 is fp32 storage
# with TF32 tensor-core arithmetic, chosen per dot product (see probes.workloads.matmul).
DTYPES: dict[str, Any] = {
    "fp32": jnp.float32,
    "tf32": jnp.float32,
    "bf16": jnp.bfloat16,
    "fp16": jnp.float16,
    "fp8": jnp.float8_e4m3fn,
}

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class ProbeConfig:
    """How to run the probes on this process's devices.

    `backend` is `jax.default_backend()` (cpu, gpu, tpu); `platform` is the vendor platform
    (cpu, cuda, rocm, tpu; `probes.device.gpu_platform`, since JAX says "gpu" for both CUDA and
    ROCm). `compute_capability` is CUDA's "9.0" or ROCm's gfx target. `llc_bytes` is the
    last-level cache that bandwidth working sets must exceed 4x. `peak_tflops` holds dense peak
    TFLOP/s by dtype for MFU (from the matched catalog record or the command line).
    """

    tier: Tier = "quick"
    backend: str = "cpu"
    platform: str = "cpu"
    compute_capability: str | None = None
    device_count: int = 1
    peak_tflops: Mapping[str, float] = field(default_factory=dict)
    peak_source: str | None = None
    seed: int = 0
    warmup_override: int | None = None  # None: the tier's (TIER_REPEATS)
    repeats_override: int | None = None
    warmup_s_override: float | None = None  # None: the tier's (WARMUP_S)
    llc_bytes: int | None = None

    @classmethod
    def for_local_devices(
        cls,
        tier: Tier,
        *,
        peak_tflops: Mapping[str, float] | None = None,
        peak_source: str | None = None,
        warmup_override: int | None = None,
        repeats_override: int | None = None,
        warmup_s_override: float | None = None,
    ) -> ProbeConfig:
        """A configuration for the devices JAX sees in this process."""
        facts = facts_from_jax()
        device = describe(facts, runner=lambda argv: None)  # no tools: only the cache size
        return cls(
            tier=tier,
            backend=facts.backend,
            platform=gpu_platform(facts),
            compute_capability=facts.compute_capability,
            device_count=facts.device_count,
            peak_tflops=dict(peak_tflops or {}),
            peak_source=peak_source,
            warmup_override=warmup_override,
            repeats_override=repeats_override,
            warmup_s_override=warmup_s_override,
            llc_bytes=device["last_level_cache_bytes"],
        )

    @property
    def accelerator(self) -> bool:
        """True on GPUs and TPUs (bigger shapes, 16-bit model dtype)."""
        return self.backend in ("gpu", "tpu")

    @property
    def warmup(self) -> int:
        """Untimed calls before timing."""
        if self.warmup_override is not None:
            return self.warmup_override
        return TIER_REPEATS[self.tier][0]

    @property
    def warmup_s(self) -> float:
        """Seconds of untimed calls before timing (at least `warmup` calls)."""
        if self.warmup_s_override is not None:
            return self.warmup_s_override
        if self.tier == "quick" and self.platform == "cpu":
            return WARMUP_S_QUICK_CPU
        return WARMUP_S[self.tier]

    @property
    def repeats(self) -> int:
        """Timed samples per case."""
        if self.repeats_override is not None:
            return self.repeats_override
        return TIER_REPEATS[self.tier][1]

    @property
    def model_dtype(self) -> str:
        """The dtype attention and the training step compute in: bf16 on accelerators, else fp32.

        CPUs are measured in fp32 because that is what a CPU run of a model would use.
        """
        return "bf16" if self.accelerator else "fp32"

    @property
    def cuda_capability(self) -> tuple[int, int] | None:
        """(major, minor) compute capability of an NVIDIA GPU, else None."""
        if self.platform != "cuda" or not self.compute_capability:
            return None
        try:
            major, _, minor = self.compute_capability.partition(".")
            return int(major), int(minor or 0)
        except ValueError:
            return None

    def peak_for(self, dtype: str) -> float | None:
        """Dense peak TFLOP/s for `dtype`, when known."""
        value = self.peak_tflops.get(dtype)
        return float(value) if value else None


@dataclass(frozen=True)
class Case:
    """One measurement a probe will make; `run()` returns its result record."""

    probe: str
    dtype: str
    size: str
    run: Callable[[], Result]
    variant: str = ""  # what else tells cases apart, e.g. "triad" or "causal"

    @property
    def label(self) -> str:
        return " ".join(part for part in (self.probe, self.variant, self.dtype, self.size) if part)


@dataclass(frozen=True)
class Probe:
    """A named workload: `cases(config)` lists its measurements without running anything."""

    name: str
    description: str
    cases: Callable[[ProbeConfig], list[Case]]


def timed_result(
    probe: str, dtype: str, size: str, timing: Timing, metrics: Mapping[str, Any]
) -> Result:
    """A result record: identity, then the probe's metrics, then the timing fields."""
    return {"probe": probe, "dtype": dtype, "size": size, **metrics, **timing.as_fields()}


def skipped_result(probe: str, dtype: str, size: str, reason: str) -> Result:
    """A record for a case that cannot run here (e.g. a collective on one device)."""
    return {"probe": probe, "dtype": dtype, "size": size, "skipped": reason}


def error_result(probe: str, dtype: str, size: str, error: str) -> Result:
    """A record for a case that raised; the run goes on."""
    return {"probe": probe, "dtype": dtype, "size": size, "error": error}


def format_bytes(n_bytes: int) -> str:
    """A size label: "64MiB", "1GiB", "256KiB" (binary units, as in the size strings)."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", 1 << 10)):
        if n_bytes >= scale and n_bytes % scale == 0:
            return f"{n_bytes // scale}{unit}"
    return f"{n_bytes}B"


def tflops(flops: float, seconds: float) -> float:
    """Throughput in TFLOP/s (10^12 FLOP per second)."""
    return flops / seconds / 1e12


def gb_per_s(n_bytes: float, seconds: float) -> float:
    """Bandwidth in GB/s (10^9 bytes per second)."""
    return n_bytes / seconds / 1e9
