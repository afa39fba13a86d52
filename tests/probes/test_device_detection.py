"""Backend detection, catalog identity, dtypes, caches and telemetry on recorded GPU
descriptions (JAX says platform "gpu" on CUDA and ROCm alike)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpu_identity.caches import MB, WORKING_SET_FACTOR, cpu_llc, gpu_llc, parse_cache_size
from probes.device import (
    DeviceFacts,
    cuda_capability,
    describe,
    gfx_target,
    gpu_platform,
    telemetry,
)
from probes.workloads import attention, bandwidth, matmul
from probes.workloads.common import ProbeConfig
from tests.probes import recorded_devices as rec


def _no_tools(argv: list[str]) -> str | None:
    return None


def _config(facts: DeviceFacts, tier: str = "quick") -> ProbeConfig:
    device = describe(facts, runner=_no_tools)
    return ProbeConfig(
        tier=tier,  # type: ignore[arg-type]
        backend=facts.backend,
        platform=gpu_platform(facts),
        compute_capability=facts.compute_capability,
        llc_bytes=device["last_level_cache_bytes"],
    )


@pytest.mark.parametrize(
    ("name", "platform", "catalog_id"),
    [
        ("h100", "cuda", "nvidia-h100-sxm"),
        ("a100", "cuda", "nvidia-a100-sxm4-80gb"),
        ("l4", "cuda", "nvidia-l4"),
        ("rtx4090", "cuda", "nvidia-geforce-rtx-4090"),
        ("mi300x", "rocm", "amd-instinct-mi300x"),
        ("mi300x-vf", "rocm", "amd-instinct-mi300x"),
        ("h100-mig", "cuda", None),
    ],
)
def test_a_gpu_reported_as_platform_gpu_is_detected_and_identified(
    name: str, platform: str, catalog_id: str | None
) -> None:
    facts = rec.ALL[name]
    assert facts.platform == "gpu"
    assert gpu_platform(facts) == platform
    device = describe(facts, runner=_no_tools)
    assert device["platform"] == platform
    assert device["jax_platform"] == "gpu"
    assert device["catalog_id"] == catalog_id


def test_the_vendor_platform_also_comes_from_named_devices_or_the_capability() -> None:
    bare = replace(rec.H100, platform_version=None)
    assert gpu_platform(bare) == "cuda"  # "9.0" is a CUDA capability
    assert gpu_platform(replace(rec.MI300X, platform_version=None)) == "rocm"  # gfx942
    assert gpu_platform(replace(bare, compute_capability=None, named_platform="rocm")) == "rocm"
    assert gpu_platform(DeviceFacts("cpu", "cpu", "cpu", 1)) == "cpu"


def test_compute_capability_and_gfx_target_are_parsed() -> None:
    assert cuda_capability(rec.H100) == (9, 0)
    assert cuda_capability(rec.L4) == (8, 9)
    assert cuda_capability(rec.MI300X) is None
    assert gfx_target(rec.MI300X) == "gfx942"
    assert gfx_target(rec.H100) is None


@pytest.mark.parametrize(
    ("name", "dtypes"),
    [
        ("h100", ["fp32", "tf32", "bf16", "fp16", "fp8"]),
        ("a100", ["fp32", "tf32", "bf16", "fp16"]),
        ("l4", ["fp32", "tf32", "bf16", "fp16", "fp8"]),
        ("rtx4090", ["fp32", "tf32", "bf16", "fp16", "fp8"]),
        ("mi300x", ["fp32", "bf16", "fp16"]),
    ],
)
def test_each_gpu_measures_the_dtypes_it_supports(name: str, dtypes: list[str]) -> None:
    assert matmul.supported_dtypes(_config(rec.ALL[name])) == dtypes


def test_fused_attention_is_measured_on_cuda_and_the_unfused_path_everywhere() -> None:
    assert attention.implementations(_config(rec.H100)) == ["fused", "unfused"]
    assert attention.implementations(_config(rec.MI300X)) == ["unfused"]
    labels = [case.variant for case in attention.cases(_config(rec.H100))]
    assert any(label.startswith("fused") for label in labels)
    assert any(label.startswith("unfused") for label in labels)


def test_a_mig_slice_is_kept_apart_from_the_full_gpu() -> None:
    device = describe(rec.H100_MIG, runner=_no_tools)
    assert device["catalog_id"] is None
    assert device["partition"] == "MIG 1g.10gb"
    assert device["partition_of"] == "nvidia-h100-sxm"


def test_a_virtual_function_is_the_whole_gpu_and_says_so() -> None:
    device = describe(rec.MI300X_VF, runner=_no_tools)
    assert device["catalog_id"] == "amd-instinct-mi300x"
    assert device["virtual_function"] is True


def test_last_level_caches_are_sourced_and_bandwidth_arrays_are_four_times_larger() -> None:
    assert gpu_llc("nvidia-h100-sxm").llc_bytes == 50 * MB
    assert gpu_llc("amd-instinct-mi300x").llc_bytes == 256 * MB
    assert "whitepaper" in gpu_llc("amd-instinct-mi300x").source
    assert gpu_llc(None).llc_bytes >= 256 * MB  # unknown: the largest listed
    for facts in (rec.H100, rec.MI300X, rec.L4, rec.RTX_4090):
        config = _config(facts)
        assert config.llc_bytes
        for size in bandwidth.array_sizes(config):
            assert size >= WORKING_SET_FACTOR * config.llc_bytes
    # --quick used 256 MiB arrays: about MI300X's Infinity Cache. Now >= 1 GB there.
    assert min(bandwidth.array_sizes(_config(rec.MI300X))) >= 1024 * MB


def test_the_cpu_cache_comes_from_sysfs(tmp_path: pytest.TempPathFactory) -> None:
    root = tmp_path / "cache"  # type: ignore[operator]
    for index, (level, size) in enumerate([(1, "48K"), (2, "2048K"), (3, "32768K")]):
        folder = root / f"index{index}"
        folder.mkdir(parents=True)
        (folder / "level").write_text(f"{level}\n")
        (folder / "size").write_text(f"{size}\n")
    cache = cpu_llc(root)
    assert (cache.kind, cache.llc_bytes) == ("L3", 32 << 20)
    assert parse_cache_size("36M") == 36 << 20
    assert parse_cache_size("bogus") is None


def _runner(outputs: dict[str, str]) -> object:
    def run(argv: list[str]) -> str | None:
        if argv[0] == "nvidia-smi":
            query = argv[1]
            return outputs.get("device" if "driver_version" in query else "telemetry")
        return outputs.get(argv[0])

    return run


def test_nvidia_smi_adds_driver_power_limit_and_sustained_telemetry() -> None:
    runner = _runner({"device": rec.H100_SMI_DEVICE, "telemetry": rec.H100_SMI_TELEMETRY})
    device = describe(rec.H100, runner=runner)  # type: ignore[arg-type]
    assert device["driver_version"] == "550.54.15"
    assert device["power_limit_w"] == 700.0
    assert device["memory_total_bytes"] == 81559 << 20
    assert device["mig_mode"] == "Disabled"
    sample = telemetry("cuda", runner)  # type: ignore[arg-type]
    assert sample == {
        "tool": "nvidia-smi",
        "sm_clock_mhz": 1755.0,
        "memory_clock_mhz": 2619.0,
        "power_w": 612.37,
        "temperature_c": 61.0,
        "throttle_reasons": "0x0000000000000000",
    }


def test_rocm_smi_adds_driver_gfx_target_power_cap_and_telemetry() -> None:
    runner = _runner({"rocm-smi": rec.MI300X_ROCM_SMI})
    device = describe(rec.MI300X, runner=runner)  # type: ignore[arg-type]
    assert device["driver_version"] == "6.8.5"
    assert device["gfx_target"] == "gfx942"
    assert device["power_limit_w"] == 750.0
    sample = telemetry("rocm", runner)  # type: ignore[arg-type]
    assert sample["power_w"] == 512.0
    assert sample["temperature_c"] == 58.0
    assert sample["sm_clock_mhz"] == 2100.0


def test_without_vendor_tools_nothing_is_guessed() -> None:
    device = describe(rec.H100, runner=_no_tools)
    assert device["driver_version"] is None
    assert device["power_limit_w"] is None
    assert telemetry("cuda", _no_tools) == {}
    assert telemetry("cpu", _no_tools) == {}
