"""What the probes ran on: backend (cuda, rocm, cpu, tpu), device name and count, compute
capability or gfx target, memory, software versions, clocks/power/temperature where a vendor
tool is present, and the catalog GPU the device matches.

JAX reports `Device.platform == "gpu"` on both CUDA and ROCm (the backend's `platform_version`
says which: JAX's own test utilities check `'cuda' in platform_version` /
`'rocm' in platform_version`, jax/_src/test_util.py `is_device_cuda`/`is_device_rocm`), so
the vendor platform is worked out here (`gpu_platform`), from a recorded description
(`DeviceFacts`) that tests build by hand for GPUs this machine does not have.

Everything is best effort: a field that cannot be read is None, never a guess.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from gpu_identity.caches import CacheSize, cpu_llc, gpu_llc
from gpu_identity.matching import match_device

GIB = 1 << 30
# XLA's GPU allocator takes this fraction of the device memory unless told otherwise
# (JAX docs, "GPU memory allocation": XLA_PYTHON_CLIENT_MEM_FRACTION, default 0.75).
DEFAULT_MEM_FRACTION = 0.75
SMI_TIMEOUT_S = 10.0

# A command runner: argv -> stdout, or None when the tool is absent or fails (tests replace it).
CommandRunner = Callable[[list[str]], str | None]


@dataclass(frozen=True)
class DeviceFacts:
    """What JAX says about the first local device (tests record these for GPUs not here).

    `platform` is `Device.platform` ("gpu" on CUDA and ROCm); `platform_version` is the
    backend's (e.g. "cuda 12080" or "rocm 60300"); `compute_capability` is CUDA's "9.0" or
    ROCm's gfx target ("gfx942"); `named_platform` is "cuda"/"rocm" when
    `jax.devices("cuda")`/`jax.devices("rocm")` answered, else None.
    """

    backend: str
    platform: str
    device_kind: str
    device_count: int
    platform_version: str | None = None
    compute_capability: str | None = None
    bytes_limit: int | None = None
    named_platform: str | None = None
    process_count: int = 1


def gpu_platform(facts: DeviceFacts) -> str:
    """ "cuda", "rocm", "cpu", "tpu" (or JAX's platform name for anything else)."""
    if facts.platform in ("cuda", "rocm", "cpu", "tpu"):
        return facts.platform
    if facts.platform != "gpu":
        return facts.platform
    if facts.named_platform in ("cuda", "rocm"):
        return facts.named_platform
    version = (facts.platform_version or "").lower()
    if "rocm" in version or "hip" in version:
        return "rocm"
    if "cuda" in version:
        return "cuda"
    capability = (facts.compute_capability or "").lower()
    if capability.startswith("gfx"):
        return "rocm"
    if re.fullmatch(r"\d+\.\d+", capability):
        return "cuda"
    kind = facts.device_kind.lower()
    if kind.startswith(("amd", "instinct", "radeon")):
        return "rocm"
    if kind.startswith(("nvidia", "tesla")):
        return "cuda"
    return "gpu"


def gfx_target(facts: DeviceFacts) -> str | None:
    """ROCm's gfx target ("gfx942" from "gfx942:sramecc+:xnack-"), else None."""
    capability = (facts.compute_capability or "").lower()
    found = re.match(r"gfx[0-9a-f]+", capability)
    return found.group(0) if found else None


def cuda_capability(facts: DeviceFacts) -> tuple[int, int] | None:
    """(major, minor) of an NVIDIA GPU's compute capability, else None."""
    if gpu_platform(facts) != "cuda" or not facts.compute_capability:
        return None
    found = re.fullmatch(r"(\d+)(?:\.(\d+))?", facts.compute_capability.strip())
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2) or 0)


def _named_platform() -> str | None:
    """ "cuda" or "rocm" when `jax.devices(name)` answers (it raises for a platform not here)."""
    for name in ("cuda", "rocm"):
        try:
            if jax.devices(name):
                return name
        except RuntimeError:
            continue
    return None


def facts_from_jax() -> DeviceFacts:
    """The description of this process's first local device."""
    devices = jax.local_devices()
    first = devices[0]
    stats = _memory_stats(first)
    capability = getattr(first, "compute_capability", None)
    limit = stats.get("bytes_limit")
    return DeviceFacts(
        backend=jax.default_backend(),
        platform=first.platform,
        device_kind=first.device_kind,
        device_count=len(devices),
        platform_version=getattr(first.client, "platform_version", None),
        compute_capability=str(capability) if capability is not None else None,
        bytes_limit=int(limit) if limit else None,
        named_platform=_named_platform() if first.platform == "gpu" else None,
        process_count=jax.process_count(),
    )


def host_cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU model name ("model name" in /proc/cpuinfo; platform.processor() elsewhere)."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def host_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _memory_stats(device: Any) -> dict[str, Any]:
    try:
        return dict(device.memory_stats() or {})
    except Exception:  # CPU and some plugins do not implement memory_stats
        return {}


def run_tool(argv: list[str]) -> str | None:
    """stdout of a vendor tool, or None when it is absent, fails or hangs."""
    executable = shutil.which(argv[0])
    if executable is None:
        return None
    try:
        completed = subprocess.run(
            [executable, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=SMI_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout


def _number(text: str | None) -> float | None:
    """The first number in `text` ("[N/A]", "" and None give None)."""
    found = re.search(r"-?\d+(?:\.\d+)?", text or "")
    return float(found.group(0)) if found else None


# nvidia-smi --query-gpu fields (nvidia-smi --help-query-gpu): the device, and its telemetry.
SMI_DEVICE_FIELDS = (
    "name",
    "memory.total",
    "driver_version",
    "compute_cap",
    "power.limit",
    "power.default_limit",
    "clocks.max.sm",
    "mig.mode.current",
)
SMI_TELEMETRY_FIELDS = (
    "clocks.sm",
    "clocks.mem",
    "power.draw",
    "temperature.gpu",
    "clocks_throttle_reasons.active",
)


def _smi_rows(fields: tuple[str, ...], runner: CommandRunner) -> dict[str, str] | None:
    """GPU 0's values of `fields` from `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`."""
    text = runner(
        [
            "nvidia-smi",
            f"--query-gpu={','.join(fields)}",
            "--format=csv,noheader,nounits",
            "-i",
            "0",
        ]
    )
    lines = (text or "").strip().splitlines()
    values = [part.strip() for part in lines[0].split(",")] if lines else []
    return dict(zip(fields, values, strict=True)) if len(values) == len(fields) else None


def nvidia_smi(runner: CommandRunner = run_tool) -> dict[str, Any]:
    """Driver, memory, compute capability, power limits and MIG mode of GPU 0, or {}."""
    row = _smi_rows(SMI_DEVICE_FIELDS, runner)
    if row is None:
        return {}
    memory_mib = _number(row["memory.total"])
    return {
        "name": row["name"],
        "memory_total_bytes": int(memory_mib) * (1 << 20) if memory_mib else None,
        "driver_version": row["driver_version"] or None,
        "compute_capability": row["compute_cap"] or None,
        "power_limit_w": _number(row["power.limit"]),
        "default_power_limit_w": _number(row["power.default_limit"]),
        "max_sm_clock_mhz": _number(row["clocks.max.sm"]),
        "mig_mode": row["mig.mode.current"]
        if row["mig.mode.current"] not in ("", "[N/A]")
        else None,
    }


def nvidia_telemetry(runner: CommandRunner = run_tool) -> dict[str, Any]:
    """SM and memory clocks, power draw, temperature and throttle reasons of GPU 0, or {}."""
    row = _smi_rows(SMI_TELEMETRY_FIELDS, runner)
    if row is None:
        return {}
    return {
        "tool": "nvidia-smi",
        "sm_clock_mhz": _number(row["clocks.sm"]),
        "memory_clock_mhz": _number(row["clocks.mem"]),
        "power_w": _number(row["power.draw"]),
        "temperature_c": _number(row["temperature.gpu"]),
        "throttle_reasons": row["clocks_throttle_reasons.active"] or None,
    }


ROCM_SMI_ARGS = [
    "rocm-smi",
    "--showproductname",
    "--showdriverversion",
    "--showpower",
    "--showmaxpower",
    "--showtemp",
    "--showclocks",
    "--json",
]


def _rocm_card(text: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(card0's fields, the "system" fields) of `rocm-smi --json` output."""
    try:
        data = json.loads(text or "")
    except ValueError:
        return {}, {}
    if not isinstance(data, dict):
        return {}, {}
    cards = sorted(k for k in data if k.startswith("card"))
    card = data.get(cards[0], {}) if cards else {}
    system = data.get("system", {})
    return (card if isinstance(card, dict) else {}), (system if isinstance(system, dict) else {})


def _field(card: Mapping[str, str], *words: str) -> str | None:
    """The value of the first key containing every one of `words` (case-insensitive)."""
    for key, value in card.items():
        if all(word in key.lower() for word in words):
            return str(value)
    return None


def rocm_smi(runner: CommandRunner = run_tool) -> dict[str, Any]:
    """Product name, driver version, power cap, clocks, power and temperature of card 0, or {}."""
    card, system = _rocm_card(runner(ROCM_SMI_ARGS))
    if not card:
        return {}
    return {
        "name": _field(card, "card series") or _field(card, "card model"),
        "gfx_version": _field(card, "gfx version"),
        "driver_version": _field(system, "driver version") or _field(card, "driver version"),
        "power_limit_w": _number(_field(card, "max graphics package power")),
        "telemetry": rocm_telemetry_from(card),
    }


def rocm_telemetry_from(card: Mapping[str, str]) -> dict[str, Any]:
    """Clocks, power and temperature from one card's `rocm-smi --json` fields."""
    power = _field(card, "average graphics package power") or _field(
        card, "current socket graphics package power"
    )
    temperature = _field(card, "temperature", "junction") or _field(card, "temperature", "edge")
    return {
        "tool": "rocm-smi",
        "sm_clock_mhz": _number(_field(card, "sclk")),
        "memory_clock_mhz": _number(_field(card, "mclk")),
        "power_w": _number(power),
        "temperature_c": _number(temperature),
        "throttle_reasons": None,
    }


def telemetry(platform_name: str, runner: CommandRunner = run_tool) -> dict[str, Any]:
    """Clocks, power and temperature now (sampled right after a case's timed samples, i.e.
    under sustained load), from the vendor tool; {} when there is none (e.g. on CPUs)."""
    if platform_name == "cuda":
        return nvidia_telemetry(runner)
    if platform_name == "rocm":
        card, _ = _rocm_card(runner(ROCM_SMI_ARGS))
        return rocm_telemetry_from(card) if card else {}
    return {}


def cuda_versions() -> dict[str, str | None]:
    """CUDA runtime, driver API and cuDNN versions as jaxlib's CUDA plugin reports them.

    Reads a private jaxlib module (there is no public API); {} when it is absent or changed.
    """
    try:
        module: Any = importlib.import_module("jax._src.lib").cuda_versions
        if module is None:
            return {}
        return {
            "cuda_runtime_version": _dotted(module.cuda_runtime_get_version()),
            "cuda_driver_api_version": _dotted(module.cuda_driver_get_version()),
            "cudnn_version": str(module.cudnn_get_version()),
        }
    except Exception:
        return {}


def _dotted(version: int) -> str:
    """12030 -> "12.3" (CUDA encodes major * 1000 + minor * 10)."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def estimated_memory_gib(memory_total_bytes: int | None, bytes_limit: int | None) -> float | None:
    """Device memory in GiB for catalog matching: the physical size when known, else XLA's
    allocator limit divided by the fraction XLA takes (XLA_PYTHON_CLIENT_MEM_FRACTION)."""
    if memory_total_bytes:
        return memory_total_bytes / GIB
    if not bytes_limit:
        return None
    if os.environ.get("XLA_PYTHON_CLIENT_ALLOCATOR", "").lower() == "platform":
        return None  # the platform allocator's limit is not a fraction of the memory
    try:
        fraction = float(os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", DEFAULT_MEM_FRACTION))
    except ValueError:
        fraction = DEFAULT_MEM_FRACTION
    return bytes_limit / fraction / GIB if fraction > 0 else None


def describe(
    facts: DeviceFacts,
    *,
    runner: CommandRunner = run_tool,
    versions: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """The device record of the probe JSON (memory in bytes, versions as strings), from a
    device description and whatever the vendor tools (`runner`) say."""
    vendor = gpu_platform(facts)
    smi = nvidia_smi(runner) if vendor == "cuda" else {}
    rocm = rocm_smi(runner) if vendor == "rocm" else {}
    memory_total = smi.get("memory_total_bytes")
    capability = facts.compute_capability or smi.get("compute_capability")
    memory_gib = estimated_memory_gib(memory_total, facts.bytes_limit)
    match = match_device(facts.device_kind, memory_gib)
    cache: CacheSize = gpu_llc(match.gpu_id) if vendor not in ("cpu",) else cpu_llc()
    info: dict[str, Any] = {
        "backend": facts.backend,
        "platform": vendor,
        "jax_platform": facts.platform,
        "platform_version": facts.platform_version,
        "device_kind": facts.device_kind,
        "device_count": facts.device_count,
        "process_count": facts.process_count,
        "memory_limit_bytes": facts.bytes_limit,
        "memory_total_bytes": memory_total,
        "memory_gib_for_matching": round(memory_gib, 2) if memory_gib else None,
        "compute_capability": str(capability) if capability else None,
        "gfx_target": gfx_target(facts) or rocm.get("gfx_version"),
        "driver_version": smi.get("driver_version") or rocm.get("driver_version"),
        "power_limit_w": smi.get("power_limit_w") or rocm.get("power_limit_w"),
        "default_power_limit_w": smi.get("default_power_limit_w"),
        "max_sm_clock_mhz": smi.get("max_sm_clock_mhz"),
        "mig_mode": smi.get("mig_mode"),
        "partition": match.partition,
        "virtual_function": match.virtual_function,
        "last_level_cache_bytes": cache.llc_bytes,
        "last_level_cache": f"{cache.kind} ({cache.source})",
        "catalog_id": match.gpu_id,
        "catalog_match": match.reason,
    }
    if match.parent_id:
        info["partition_of"] = match.parent_id
    if match.note:
        info["catalog_note"] = match.note
    info.update(versions or {})
    return info


def software_versions(vendor: str) -> dict[str, str | None]:
    """JAX, jaxlib, NumPy, Python, OS and host CPU; CUDA/cuDNN versions on CUDA."""
    versions: dict[str, Any] = {
        "jax_version": jax.__version__,
        "jaxlib_version": _version("jaxlib"),
        "numpy_version": _version("numpy"),
        "python_version": platform.python_version(),
        "os": platform.platform(),
        "host_cpu_model": host_cpu_model(),
        "host_cpu_count": host_cpu_count(),
    }
    if vendor == "cuda":
        versions.update(cuda_versions())
    return versions


def describe_device() -> dict[str, Any]:
    """The device record of this process's first local device."""
    facts = facts_from_jax()
    return describe(facts, versions=software_versions(gpu_platform(facts)))
