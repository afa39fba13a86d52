"""Device-memory bandwidth with two STREAM kernels (McCalpin, "STREAM: Sustainable Memory
Bandwidth in High Performance Computers", https://www.cs.virginia.edu/stream/ref.html), run in
place:

- scale: a <- 0.999 a      reads one array and writes it back: 2 N bytes (STREAM "Scale"
  moves the same bytes; unlike `a + 0` XLA cannot drop the multiply)
- triad: b <- b + 3.0 c    reads two arrays, writes one: 3 N bytes (STREAM "Triad")

N is the size of one array; each array read or written once is counted once, as STREAM does.
In place means the first argument is donated and each call's output feeds the next call
(`probes.timing.measure(..., feedback=True)`). Written out of place, XLA on a CPU maps a fresh
output buffer on every call and the time goes to page faults (measured here: 7 GB/s instead of
60 GB/s), and a CPU reads each destination line before writing it (so 2 N counted would be 3 N
moved). The scale factor 0.999 keeps values finite however many calls a sample makes.

Every array is at least 4x the device's last-level cache (STREAM's rule; sizes per GPU with
their sources in `gpu_identity.caches`: H100 50 MB L2, MI300X 256 MB Infinity Cache, ...; a CPU's
L3 from sysfs): the tier's sizes are raised to that minimum, so even `--quick` measures memory,
not cache.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp

from gpu_identity.caches import WORKING_SET_FACTOR
from probes.timing import keys, measure
from probes.workloads.common import (
    GIB,
    MIB,
    Case,
    Probe,
    ProbeConfig,
    Result,
    format_bytes,
    gb_per_s,
    timed_result,
)

NAME = "bandwidth"
DTYPE = "fp32"
ITEM_BYTES = 4

# Bytes of ONE array, per (tier, accelerator).
ARRAY_BYTES: dict[tuple[str, bool], list[int]] = {
    ("full", True): [256 * MIB, 1 * GIB],
    ("quick", True): [256 * MIB],
    ("full", False): [64 * MIB, 256 * MIB],
    ("quick", False): [64 * MIB],
    ("tiny", True): [4 * MIB],
    ("tiny", False): [4 * MIB],
}


def scale(a: jax.Array) -> jax.Array:
    """STREAM scale, in place: a <- 0.999 a."""
    return a * 0.999


def triad(b: jax.Array, c: jax.Array) -> jax.Array:
    """STREAM triad, in place: b <- b + 3 c."""
    return b + 3.0 * c


# kernel -> (function, arrays it reads, bytes moved per byte of one array)
KERNELS: dict[str, tuple[Callable[..., jax.Array], int, int]] = {
    "scale": (scale, 1, 2),
    "triad": (triad, 2, 3),
}


def kernel_bytes(kernel: str, array_bytes: int) -> int:
    """Bytes one call moves: 2 N for scale (read a, write a), 3 N for triad (read b, c, write b)."""
    return KERNELS[kernel][2] * array_bytes


def run_kernel(config: ProbeConfig, kernel: str, array_bytes: int) -> Result:
    """Measure one kernel on arrays of `array_bytes` each: gb_s = bytes / median_s / 1e9."""
    fn, n_inputs, _ = KERNELS[kernel]
    elements = array_bytes // ITEM_BYTES

    def make_inputs() -> list[jax.Array]:
        return [
            jax.random.uniform(key, (elements,), jnp.float32, minval=0.5, maxval=1.5)
            for key in keys(config.seed, n_inputs)
        ]

    timing = measure(
        jax.jit(fn, donate_argnums=0),
        make_inputs,
        warmup=config.warmup,
        warmup_s=config.warmup_s,
        repeats=config.repeats,
        feedback=True,
        loop=True,
    )
    moved = kernel_bytes(kernel, array_bytes)
    return timed_result(
        NAME,
        DTYPE,
        format_bytes(array_bytes),
        timing,
        {
            "gb_s": gb_per_s(moved, timing.median_s),
            "bytes": moved,
            "kernel": kernel,
            "in_place": True,
            "array_bytes": array_bytes,
            "last_level_cache_bytes": config.llc_bytes,
        },
    )


def array_sizes(config: ProbeConfig) -> list[int]:
    """The tier's array sizes, each raised to >= 4x the last-level cache (not for "tiny", the
    test-sized tier), rounded up to a whole MiB, duplicates dropped."""
    sizes = ARRAY_BYTES[(config.tier, config.accelerator)]
    if config.tier == "tiny" or not config.llc_bytes:
        return sizes
    floor = -(-WORKING_SET_FACTOR * config.llc_bytes // MIB) * MIB
    return sorted({max(size, floor) for size in sizes})


def cases(config: ProbeConfig) -> list[Case]:
    """Each kernel at each array size of this tier."""
    sizes = array_sizes(config)
    return [
        Case(NAME, DTYPE, format_bytes(size), partial(run_kernel, config, kernel, size), kernel)
        for size in sizes
        for kernel in KERNELS
    ]


PROBE = Probe(NAME, "device-memory GB/s: STREAM scale (2N bytes) and triad (3N bytes)", cases)
