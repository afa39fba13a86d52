"""Benchmark: the matmul probe's fp32 path against numpy.matmul on the same CPU, in one run.

Both sides use the probe protocol (fresh standard-normal inputs, warm-up, timed repeats,
median); the probe side is `probes.workloads.matmul.run_matmul` itself. GFLOP/s = 2 n^3 /
median_s / 1e9. Target: probe / numpy >= 0.9 at the largest size. numpy's speed depends on its
BLAS and on OPENBLAS_CORETYPE (which forces an OpenBLAS kernel family); both are printed.

The two sides alternate for `--rounds` rounds per size and each reports the median of its round
medians, so that a load change on a shared machine (the load average is printed) hits both.

    .venv/bin/python scripts/bench_matmul_vs_numpy.py [--sizes 256 ... 4096] [--repeats 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import numpy as np

from probes.workloads.common import ProbeConfig
from probes.workloads.matmul import matmul_flops, run_matmul

TARGET_RATIO = 0.9
# Pause when switching library: OpenBLAS's worker threads busy-wait after a call (its
# THREAD_TIMEOUT, ~2^28 cycles by default) and XLA's pool spins briefly too; on a 2-core machine
# a spinning pool takes half the CPU from the other library's first timed calls.
SETTLE_S = 0.5


def numpy_median_s(n: int, *, warmup: int, repeats: int, seed: int = 0) -> float:
    """Median seconds of numpy.matmul on two n x n fp32 standard-normal matrices."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    for _ in range(warmup):
        np.matmul(a, b)
    samples_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b)
        samples_s.append(time.perf_counter() - start)
    return statistics.median(samples_s)


def blas_name() -> str:
    """numpy's BLAS as its build config names it, e.g. "scipy-openblas 0.3.31"."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    config = ProbeConfig.for_local_devices(
        "full", warmup_override=args.warmup, repeats_override=args.repeats
    )
    print(f"device: {jax.devices()[0].device_kind} ({config.backend}), jax {jax.__version__}")
    print(f"numpy {np.__version__}, BLAS: {blas_name()}")
    coretype = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    print(
        f"OPENBLAS_CORETYPE={coretype}, CPUs: {len(os.sched_getaffinity(0))}, "
        f"warmup {config.warmup}, repeats {config.repeats}, rounds {args.rounds}"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'n':>6} {'probe GFLOP/s':>14} {'numpy GFLOP/s':>14} {'probe/numpy':>12}")
    ratio = float("nan")
    for n in args.sizes:
        probe_s, numpy_s = [], []
        for _ in range(args.rounds):
            numpy_s.append(numpy_median_s(n, warmup=config.warmup, repeats=config.repeats))
            time.sleep(SETTLE_S)
            probe_s.append(run_matmul(config, "fp32", (n, n, n))["median_s"])
            time.sleep(SETTLE_S)
        probe_gflops = matmul_flops(n, n, n) / statistics.median(probe_s) / 1e9
        numpy_gflops = matmul_flops(n, n, n) / statistics.median(numpy_s) / 1e9
        ratio = probe_gflops / numpy_gflops
        print(f"{n:>6} {probe_gflops:>14.1f} {numpy_gflops:>14.1f} {ratio:>12.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"largest size: ratio {ratio:.2f} {verdict} the target >= {TARGET_RATIO}")


if __name__ == "__main__":
    main()
