"""The timing protocol: compile once, warm up, timed repeats, median and spread."""

from __future__ import annotations

import re
from functools import partial

import jax
import jax.numpy as jnp
import pytest

from probes.timing import keys, looped, measure, spread
from probes.workloads.matmul import matmul_flops


def _operands(n: int) -> list[jax.Array]:
    return [jax.random.normal(key, (n, n)) for key in keys(0, 2)]


def test_measure_reports_ordered_statistics_and_counts() -> None:
    timing = measure(jnp.matmul, lambda: _operands(64), warmup=1, repeats=5)
    assert timing.repeats == 5
    assert timing.warmup == 1
    assert timing.compile_s > 0
    assert 0 < timing.min_s <= timing.median_s <= timing.max_s
    assert timing.stdev_s >= 0
    assert 0 <= timing.iqr_s <= timing.max_s - timing.min_s


def test_measure_reports_xla_flop_count_equal_to_the_analytic_matmul_count() -> None:
    fn = jax.jit(partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST))
    timing = measure(fn, lambda: _operands(128), warmup=0, repeats=1)
    assert timing.xla_flops == matmul_flops(128, 128, 128)


def test_fast_calls_are_batched_into_samples_of_at_least_the_minimum_duration() -> None:
    timing = measure(lambda x: x + 1.0, lambda: [jnp.ones(8)], warmup=1, repeats=3)
    assert timing.calls_per_sample > 1
    assert timing.median_s < 1e-3  # per call, not per sample


def test_calibration_can_be_turned_off() -> None:
    timing = measure(lambda x: x + 1.0, lambda: [jnp.ones(8)], warmup=0, repeats=2, min_sample_s=0)
    assert timing.calls_per_sample == 1


def test_feedback_runs_a_donated_function_in_place_call_after_call() -> None:
    fn = jax.jit(lambda x: x * 0.999, donate_argnums=0)
    timing = measure(fn, lambda: [jnp.ones(1024)], warmup=2, repeats=3, feedback=True)
    assert timing.median_s > 0


def test_inputs_are_random_with_distinct_keys() -> None:
    a, b = _operands(32)
    assert float(jnp.abs(a).sum()) > 0
    assert not bool(jnp.array_equal(a, b))


@pytest.mark.parametrize(("repeats", "warmup"), [(0, 1), (1, -1)])
def test_measure_rejects_impossible_counts(repeats: int, warmup: int) -> None:
    with pytest.raises(ValueError, match="repeats"):
        measure(jnp.sin, lambda: [jnp.ones(4)], warmup=warmup, repeats=repeats)


def test_spread_of_one_sample_is_zero_and_of_several_is_their_stdev_and_iqr() -> None:
    assert spread([1.0]) == (0.0, 0.0)
    stdev, iqr = spread([1.0, 2.0, 3.0, 4.0, 5.0])
    assert stdev == pytest.approx(1.5811, abs=1e-4)
    assert iqr == pytest.approx(2.0)


class FakeClock:
    """A clock that advances `step_s` each time it is read."""

    def __init__(self, step_s: float) -> None:
        self.now_s = 0.0
        self.step_s = step_s
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        self.now_s += self.step_s
        return self.now_s


def test_warm_up_runs_until_its_time_has_passed_not_a_fixed_count() -> None:
    clock = FakeClock(step_s=0.05)
    timing = measure(
        lambda x: x * 2.0,
        lambda: [jnp.ones((8,), jnp.float32)],
        warmup=1,
        warmup_s=0.5,
        repeats=2,
        min_sample_s=0.0,
        clock=clock,
    )
    assert timing.warmup_s >= 0.5
    assert timing.warmup >= 5  # 0.5 s of 0.05 s clock steps, never just 3 calls


def test_no_warm_up_time_means_the_minimum_calls_only() -> None:
    timing = measure(
        lambda x: x + 1.0,
        lambda: [jnp.ones((8,), jnp.float32)],
        warmup=2,
        warmup_s=0.0,
        repeats=1,
        min_sample_s=0.0,
    )
    assert timing.warmup == 2


def test_small_kernels_are_timed_inside_a_jitted_loop() -> None:
    timing = measure(
        lambda a, b: a @ b,
        lambda: [jnp.ones((32, 32), jnp.float32), jnp.ones((32, 32), jnp.float32)],
        warmup=1,
        repeats=3,
        min_sample_s=2e-3,
        loop=True,
    )
    assert timing.timing_method == "fori_loop"
    assert timing.calls_per_sample > 1
    assert timing.loop_compile_s is not None


def _computations(hlo: str) -> dict[str, list[str]]:
    """Computation name -> its instruction lines (ENTRY under "ENTRY")."""
    found: dict[str, list[str]] = {}
    current = None
    for line in hlo.splitlines():
        header = re.match(r"(ENTRY )?%([\w.\-]+) \(", line)
        if header and line.rstrip().endswith("{"):
            current = "ENTRY" if header.group(1) else header.group(2)
            found[current] = []
        elif current is not None and line.startswith("  "):
            found[current].append(line)
    return found


def _reaches_dot(name: str, comps: dict[str, list[str]], skip_while: bool = False) -> bool:
    seen, todo = set(), [name]
    while todo:
        comp = todo.pop()
        if comp in seen:
            continue
        seen.add(comp)
        for line in comps.get(comp, []):
            if skip_while and " while(" in line:
                continue
            if re.search(r"\bdot\(", line):
                return True
            todo += re.findall(r"(?:calls|to_apply|body|condition)=%([\w.\-]+)", line)
    return False


def test_the_loop_repeats_the_work_instead_of_hoisting_it() -> None:
    a = jax.random.normal(jax.random.key(0), (192, 192), jnp.float32)
    exe = looped(lambda x, y: x @ y, feedback=False).lower(jnp.int32(1), a, a).compile()
    comps = _computations(exe.as_text())
    bodies = [m for line in comps["ENTRY"] for m in re.findall(r" while\(.*body=%([\w.\-]+)", line)]
    assert bodies, "no while loop in the compiled module"
    assert any(_reaches_dot(body, comps) for body in bodies)  # the product runs per iteration
    assert not _reaches_dot("ENTRY", comps, skip_while=True)  # and was not hoisted out
    assert jnp.allclose(exe(jnp.int32(3), a, a), a @ a, rtol=1e-4, atol=1e-3)


def test_feedback_in_a_loop_runs_in_place_and_chains() -> None:
    timing = measure(
        jax.jit(lambda x: x * 0.5, donate_argnums=0),
        lambda: [jnp.ones((1024,), jnp.float32)],
        warmup=1,
        repeats=2,
        min_sample_s=1e-3,
        feedback=True,
        loop=True,
    )
    assert timing.timing_method == "fori_loop"
    assert timing.median_s > 0
