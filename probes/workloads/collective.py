"""All-reduce (`jax.lax.psum`) across every local device, via `jax.shard_map`.

Each device holds a buffer of `size` bytes; after the call each holds the sum of all of them.
Bandwidths follow nccl-tests (NVIDIA/nccl-tests doc/PERFORMANCE.md, "AllReduce"):

    alg_gb_s = size / time / 1e9
    gb_s     = bus bandwidth = alg_gb_s x 2 (n - 1) / n

The bus bandwidth is what a ring all-reduce moves over each link, so it compares directly with a
link's bandwidth whatever the device count. With one device there is nothing to reduce: the
probe reports itself skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

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
    skipped_result,
    timed_result,
)

NAME = "collective"
DTYPE = "fp32"
ITEM_BYTES = 4
AXIS = "devices"
# jax.sharding.PartitionSpec and jax.lax.psum are unannotated; these give the checker types.
partition_spec: Callable[..., Any] = PartitionSpec
psum: Callable[[jax.Array, str], jax.Array] = jax.lax.psum
SHARDED = partition_spec(AXIS)  # split along the mesh's one axis

# Bytes per device, per (tier, accelerator).
BUFFER_BYTES: dict[tuple[str, bool], list[int]] = {
    ("full", True): [64 * MIB, 256 * MIB, 1 * GIB],
    ("quick", True): [256 * MIB],
    ("full", False): [4 * MIB, 16 * MIB, 64 * MIB],
    ("quick", False): [4 * MIB, 16 * MIB],
    ("tiny", True): [256 << 10],
    ("tiny", False): [256 << 10],
}


def bus_bandwidth_factor(devices: int) -> float:
    """2 (n - 1) / n: bus bandwidth over algorithm bandwidth for all-reduce (nccl-tests)."""
    return 2.0 * (devices - 1) / devices


def all_reduce_fn(devices: Sequence[Any]) -> tuple[Callable[[jax.Array], jax.Array], Any]:
    """(jitted all-reduce over `devices`, the sharding its input must have).

    The input is one array split evenly along axis 0, one block per device; the output has the
    same layout, every block holding the sum of all input blocks.
    """
    mesh = jax.make_mesh((len(devices),), (AXIS,), devices=devices)

    def all_reduce(block: jax.Array) -> jax.Array:
        return psum(block, AXIS)

    fn = jax.jit(jax.shard_map(all_reduce, mesh=mesh, in_specs=SHARDED, out_specs=SHARDED))
    return fn, NamedSharding(mesh, SHARDED)


def run_psum(config: ProbeConfig, buffer_bytes: int) -> Result:
    """Measure one all-reduce of `buffer_bytes` per device over all local devices."""
    devices = jax.local_devices()
    n = len(devices)
    label = format_bytes(buffer_bytes)
    if n < 2:
        return skipped_result(
            NAME, DTYPE, label, f"all-reduce needs at least 2 local devices; JAX sees {n}"
        )
    fn, sharding = all_reduce_fn(devices)
    elements = buffer_bytes // ITEM_BYTES

    def make_inputs() -> list[jax.Array]:
        (key,) = keys(config.seed, 1)
        x = jax.random.normal(key, (n * elements,), jnp.float32)
        return [jax.device_put(x, sharding)]

    timing = measure(
        fn, make_inputs, warmup=config.warmup, warmup_s=config.warmup_s, repeats=config.repeats
    )
    alg_gb_s = gb_per_s(buffer_bytes, timing.median_s)
    return timed_result(
        NAME,
        DTYPE,
        label,
        timing,
        {
            "gb_s": alg_gb_s * bus_bandwidth_factor(n),
            "alg_gb_s": alg_gb_s,
            "bytes": buffer_bytes,
            "devices": n,
            "operation": "all-reduce (psum)",
            "bandwidth_convention": "gb_s is nccl-tests bus bandwidth: size/time x 2(n-1)/n",
        },
    )


def cases(config: ProbeConfig) -> list[Case]:
    """One all-reduce per buffer size; a single skipped case on a single device."""
    sizes = BUFFER_BYTES[(config.tier, config.accelerator)]
    if config.device_count < 2:
        return [Case(NAME, DTYPE, format_bytes(sizes[0]), partial(run_psum, config, sizes[0]))]
    return [
        Case(NAME, DTYPE, format_bytes(size), partial(run_psum, config, size), "all-reduce")
        for size in sizes
    ]


PROBE = Probe(NAME, "psum all-reduce bus GB/s across local devices (nccl-tests convention)", cases)
