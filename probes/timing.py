"""The one timing protocol every probe uses: compile, warm up, N timed repeats, median.

1. Inputs are made once from a fixed seed with `jax.random` (one key per array, never zeros: an
   all-zero input can take faster paths, e.g. denormal-free or sparsity shortcuts) and are
   materialised before any clock starts.
2. Compile: `jit(fn).lower(*inputs).compile()`, timed on its own (`compile_s`); nothing else is
   compiled afterwards, every later call runs that executable.
3. Warm-up: `warmup` untimed calls (allocator, caches, clocks settle).
4. Calibration: a call that takes less than `min_sample_s` is repeated back to back inside one
   timed sample (`calls_per_sample`) so that Python dispatch and clock resolution do not
   dominate; each reported time is per call.
5. Samples: `repeats` timed samples with `time.perf_counter()`, each ending in
   `jax.block_until_ready()` on every output of the sample (JAX dispatches asynchronously: without
   it the clock stops before the device finishes).

With `feedback=True` each call's output replaces the first argument of the next call: with the
first argument donated (`jax.jit(..., donate_argnums=0)`) the computation then runs in place, as
STREAM's kernels do, instead of writing a freshly allocated buffer each call. The calls of a
sample then form a chain, and blocking on the last output waits for all of them.

Reported: median (the headline figure), min, max, standard deviation and inter-quartile range, in
seconds per call.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import jax

# A sample shorter than this is dominated by dispatch (~3-50 us per call) and timer noise.
DEFAULT_MIN_SAMPLE_S = 1e-3
# Back-to-back calls per sample are capped: their outputs stay alive until the sample ends.
MAX_CALLS_PER_SAMPLE = 1000

# jax.block_until_ready is unannotated; this gives the checker its signature.
block_until_ready: Callable[[Any], Any] = jax.block_until_ready


@dataclass(frozen=True)
class Timing:
    """Wall-clock statistics of one compiled function, in seconds per call."""

    compile_s: float
    median_s: float
    min_s: float
    max_s: float
    stdev_s: float
    iqr_s: float
    repeats: int
    warmup: int
    calls_per_sample: int
    xla_flops: float | None  # XLA's own FLOP count of one call (cost_analysis), when it gives one

    def as_fields(self) -> dict[str, Any]:
        """The timing as flat result fields (JSON-ready)."""
        return asdict(self)


def keys(seed: int, count: int) -> list[jax.Array]:
    """`count` distinct PRNG keys derived from `seed` (one per input array)."""
    return list(jax.random.split(jax.random.key(seed), count))


def spread(samples_s: Sequence[float]) -> tuple[float, float]:
    """(standard deviation, inter-quartile range) of `samples_s`, both 0.0 for one sample."""
    if len(samples_s) < 2:
        return 0.0, 0.0
    quartiles = statistics.quantiles(samples_s, n=4, method="inclusive")
    return statistics.stdev(samples_s), quartiles[2] - quartiles[0]


def xla_flop_count(compiled: Any) -> float | None:
    """XLA's FLOP count of one execution (`Compiled.cost_analysis()`), or None where unsupported."""
    try:
        analysis = compiled.cost_analysis()
    except Exception:  # some backends do not implement cost analysis
        return None
    if isinstance(analysis, list):  # older JAX returned one dict per device
        analysis = analysis[0] if analysis else {}
    flops = analysis.get("flops") if isinstance(analysis, dict) else None
    if flops is None or not math.isfinite(float(flops)) or float(flops) < 0:
        return None
    return float(flops)


def measure(
    fn: Callable[..., Any],
    make_inputs: Callable[[], Sequence[Any]],
    *,
    warmup: int,
    repeats: int,
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S,
    feedback: bool = False,
) -> Timing:
    """Time `fn` on the arrays `make_inputs()` returns, following the module's protocol.

    `fn` is a pure function (jitted or not; it is jitted here if it is not). `make_inputs` returns
    the positional arguments; it is called once, before any clock starts. `feedback`: see the
    module docstring. Raises ValueError for `repeats < 1` or `warmup < 0`; whatever compiling or
    running raises (e.g. out of memory) propagates to the caller.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats=} {warmup=}")
    jitted: Any = fn if hasattr(fn, "lower") else jax.jit(fn)
    args = tuple(make_inputs())
    block_until_ready(args)

    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - start

    def run(calls: int) -> None:
        """`calls` back-to-back calls, then wait for all of them."""
        nonlocal args
        if feedback:
            for _ in range(calls):
                args = (compiled(*args), *args[1:])
            block_until_ready(args[0])
        else:
            block_until_ready([compiled(*args) for _ in range(calls)])

    for _ in range(warmup):
        run(1)

    calls = 1
    if min_sample_s > 0:
        start = time.perf_counter()
        run(1)
        one_call_s = time.perf_counter() - start
        if one_call_s < min_sample_s:
            calls = min(MAX_CALLS_PER_SAMPLE, math.ceil(min_sample_s / max(one_call_s, 1e-9)))

    samples_s: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(calls)
        samples_s.append((time.perf_counter() - start) / calls)

    stdev_s, iqr_s = spread(samples_s)
    return Timing(
        compile_s=compile_s,
        median_s=statistics.median(samples_s),
        min_s=min(samples_s),
        max_s=max(samples_s),
        stdev_s=stdev_s,
        iqr_s=iqr_s,
        repeats=repeats,
        warmup=warmup,
        calls_per_sample=calls,
        xla_flops=xla_flop_count(compiled),
    )
