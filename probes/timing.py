"""The one timing protocol every probe uses: compile, warm up by time, timed samples, median.

1. Inputs are made once from a fixed seed with `jax.random` (one key per array, never zeros: an
   all-zero input can take faster paths, e.g. denormal-free or sparsity shortcuts) and are
   materialised before any clock starts.
2. Compile: `jit(fn).lower(*inputs).compile()`, timed on its own (`compile_s`); nothing else is
   compiled afterwards except the looped form (4), whose compile time is `loop_compile_s`.
3. Warm-up by time: calls repeat until `warmup_s` seconds have passed (and at least `warmup`
   calls): clocks ramp, caches, allocator and autotuning settle. A GPU takes tenths of a second
   to reach its sustained clock, so accelerators warm up >= 0.5 s.
4. Calibration: a call shorter than `min_sample_s` is repeated inside one timed sample
   (`calls_per_sample`), so that dispatch (17-20 us per call measured here) and clock resolution
   do not dominate. With `loop=True` the repeats run inside one jitted `lax.fori_loop` (one
   dispatch per sample; `timing_method="fori_loop"`): each iteration passes its inputs and
   output through `lax.optimization_barrier`, so XLA can neither hoist the loop-invariant work
   out of the loop nor drop an iteration's unused result. Otherwise calls are dispatched back
   to back from Python (`timing_method="python"`).
5. Samples: `repeats` timed samples, each ending in `jax.block_until_ready()` on every output
   (JAX dispatches asynchronously: without it the clock stops before the device finishes).
   Each sample's time is divided by its calls ONCE: every reported time is per call.

With `feedback=True` each call's output replaces the first argument of the next call: with the
first argument donated (`jax.jit(..., donate_argnums=0)`) the computation then runs in place, as
STREAM's kernels do, instead of writing a freshly allocated buffer each call.

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
# Back-to-back Python calls per sample are capped: their outputs stay alive until the sample ends.
MAX_CALLS_PER_SAMPLE = 1000
# Iterations of one fori_loop sample are capped too (nothing stays alive; a bound on sample time).
MAX_LOOP_ITERATIONS = 1_000_000

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
    warmup: int  # warm-up calls made
    calls_per_sample: int
    xla_flops: float | None  # XLA's own FLOP count of one call (cost_analysis), when it gives one
    warmup_s: float = 0.0  # warm-up time spent
    timing_method: str = "python"  # "fori_loop" when the calls of a sample ran in one jitted loop
    loop_compile_s: float | None = None

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


def looped(fn: Callable[..., Any], *, feedback: bool) -> Callable[..., Any]:
    """`fn` repeated `n` times inside one jitted `lax.fori_loop`: (n, *args) -> last output.

    Each iteration's arguments and output go through `lax.optimization_barrier`, so that XLA
    cannot treat the arguments as loop-invariant (and hoist the work out of the loop) nor the
    output as dead. With `feedback` the output becomes the next first argument (in place).
    """

    def many(n: jax.Array, *args: Any) -> Any:
        out_shape = jax.eval_shape(fn, *args)
        first_out = jax.tree.map(lambda s: jax.numpy.zeros(s.shape, s.dtype), out_shape)

        def body(_: Any, carry: tuple[Any, Any]) -> tuple[Any, Any]:
            inputs, _previous = carry
            out = fn(*inputs)
            if feedback:
                inputs = (out, *inputs[1:])
            barrier: tuple[Any, Any] = optimization_barrier((inputs, out))
            return barrier

        _, out = jax.lax.fori_loop(0, n, body, (tuple(args), first_out))
        return out

    return jax.jit(many, donate_argnums=(1,) if feedback else ())


optimization_barrier: Callable[[Any], Any] = jax.lax.optimization_barrier


def measure(
    fn: Callable[..., Any],
    make_inputs: Callable[[], Sequence[Any]],
    *,
    warmup: int,
    repeats: int,
    warmup_s: float = 0.0,
    min_sample_s: float = DEFAULT_MIN_SAMPLE_S,
    feedback: bool = False,
    loop: bool = False,
    on_compiled: Callable[[Any], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Time `fn` on the arrays `make_inputs()` returns, following the module's protocol.

    `fn` is a pure function (jitted or not; it is jitted here if it is not). `make_inputs` returns
    the positional arguments; it is called once, before any clock starts. `feedback`, `loop`:
    see the module docstring. `on_compiled` receives the compiled executable (e.g. to check its
    HLO). `clock` is the timer (tests pass a fake one). Raises ValueError for `repeats < 1`,
    `warmup < 0` or `warmup_s < 0`; whatever compiling or running raises (e.g. out of memory)
    propagates to the caller.
    """
    if repeats < 1 or warmup < 0 or warmup_s < 0:
        raise ValueError(f"need repeats >= 1, warmup >= 0, warmup_s >= 0: {repeats=} {warmup=}")
    jitted: Any = fn if hasattr(fn, "lower") else jax.jit(fn)
    args = tuple(make_inputs())
    block_until_ready(args)

    start = clock()
    compiled = jitted.lower(*args).compile()
    compile_s = clock() - start
    if on_compiled is not None:
        on_compiled(compiled)

    def run(calls: int) -> None:
        """`calls` back-to-back calls, then wait for all of them."""
        nonlocal args
        if feedback:
            for _ in range(calls):
                args = (compiled(*args), *args[1:])
            block_until_ready(args[0])
        else:
            block_until_ready([compiled(*args) for _ in range(calls)])

    warmup_calls = 0
    start = clock()
    while warmup_calls < warmup or clock() - start < warmup_s:
        run(1)
        warmup_calls += 1
    spent_s = clock() - start

    calls = 1
    if min_sample_s > 0:
        start = clock()
        run(1)
        one_call_s = clock() - start
        if one_call_s < min_sample_s:
            calls = math.ceil(min_sample_s / max(one_call_s, 1e-9))
    method, loop_compile_s = "python", None
    sample: Callable[[int], None] = run
    if loop and calls > 1:
        calls = min(MAX_LOOP_ITERATIONS, calls)
        loop_fn: Any = looped(fn, feedback=feedback)
        start = clock()
        loop_exe = loop_fn.lower(jax.numpy.int32(calls), *args).compile()
        loop_compile_s = clock() - start

        def run_loop(n: int) -> None:
            nonlocal args
            out = loop_exe(jax.numpy.int32(n), *args)
            if feedback:
                args = (out, *args[1:])
            block_until_ready(out)

        run_loop(calls)  # the looped executable's own first run, untimed
        sample, method = run_loop, "fori_loop"
    else:
        calls = min(MAX_CALLS_PER_SAMPLE, calls)

    samples_s: list[float] = []
    for _ in range(repeats):
        start = clock()
        sample(calls)
        samples_s.append((clock() - start) / calls)

    stdev_s, iqr_s = spread(samples_s)
    return Timing(
        compile_s=compile_s,
        median_s=statistics.median(samples_s),
        min_s=min(samples_s),
        max_s=max(samples_s),
        stdev_s=stdev_s,
        iqr_s=iqr_s,
        repeats=repeats,
        warmup=warmup_calls,
        calls_per_sample=calls,
        xla_flops=xla_flop_count(compiled),
        warmup_s=spent_s,
        timing_method=method,
        loop_compile_s=loop_compile_s,
    )
