"""Multi-device code paths on 4 CPU devices. XLA reads --xla_force_host_platform_device_count
when JAX starts, so the check runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from app.config import PROJECT_ROOT
from probes.workloads.collective import bus_bandwidth_factor

DEVICES = 4

SCRIPT = textwrap.dedent(
    f"""
    import jax
    import numpy as np

    from probes.runner import main
    from probes.workloads.collective import all_reduce_fn

    devices = jax.local_devices()
    assert len(devices) == {DEVICES}, devices
    # the all-reduce the probe times really sums the blocks of all devices
    fn, sharding = all_reduce_fn(devices)
    x = jax.device_put(np.arange({DEVICES} * 3, dtype=np.float32), sharding)
    expected = np.tile(np.arange({DEVICES} * 3, dtype=np.float32).reshape({DEVICES}, 3).sum(0), {DEVICES})
    np.testing.assert_allclose(np.asarray(fn(x)), expected)

    raise SystemExit(main(["run", "--quick", "--json", "--only", "collective"]))
    """
)


def test_collective_all_reduces_across_four_cpu_devices() -> None:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={DEVICES}"
    env = {**os.environ, "XLA_FLAGS": flags.strip(), "JAX_PLATFORMS": "cpu"}
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["device"]["device_count"] == DEVICES
    results = document["results"]
    assert len(results) >= 2
    for result in results:
        assert "error" not in result, result
        assert "skipped" not in result, result
        assert result["devices"] == DEVICES
        assert result["gb_s"] > 0
        assert result["gb_s"] == result["alg_gb_s"] * bus_bandwidth_factor(DEVICES)
        assert result["median_s"] > 0
