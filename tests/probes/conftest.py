"""Shared pieces of the probe tests: a tiny-shape CPU configuration and sanity ceilings."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("jax")

from probes.workloads.common import ProbeConfig

# An analytic ceiling no CPU here can beat: cores x 2 FMA pipes x 32 fp32 FLOP per 512-bit FMA
# x 5 GHz. 16-bit dot-product instructions (AVX512-BF16, AMX aside) do twice the work per cycle.
CPU_CORES = len(os.sched_getaffinity(0))
CPU_FP32_CEILING_TFLOPS = CPU_CORES * 2 * 32 * 5e9 / 1e12
CPU_BANDWIDTH_CEILING_GB_S = 1000.0


def cpu_ceiling_tflops(dtype: str) -> float:
    return CPU_FP32_CEILING_TFLOPS * (2 if dtype in ("bf16", "fp16") else 1)


@pytest.fixture(scope="session")
def tiny() -> ProbeConfig:
    """Test-sized shapes on the local (CPU) device: every case runs in well under a second."""
    return ProbeConfig.for_local_devices("tiny")
