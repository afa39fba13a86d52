"""What the probes ran on: backend, device name and count, memory, software versions, host CPU,
and the catalog GPU the device matches.

Everything here is best effort: a field that cannot be read is None, never a guess. On NVIDIA
hosts `nvidia-smi` (when present) adds the driver version and the physical memory size.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from probes.catalog_match import match_device

GIB = 1 << 30
# XLA's GPU allocator takes this fraction of the device memory unless told otherwise
# (JAX docs, "GPU memory allocation": XLA_PYTHON_CLIENT_MEM_FRACTION, default 0.75).
DEFAULT_MEM_FRACTION = 0.75


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


def nvidia_smi(timeout_s: float = 10.0) -> dict[str, Any]:
    """Driver version and memory of GPU 0 from `nvidia-smi`, or {} when unavailable."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return {}
    query = "name,memory.total,driver_version,compute_cap"
    try:
        completed = subprocess.run(
            [executable, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    lines = completed.stdout.strip().splitlines()
    fields = [part.strip() for part in lines[0].split(",")] if lines else []
    if len(fields) != 4:
        return {}
    name, memory_mib, driver, capability = fields
    try:
        memory_bytes: int | None = int(float(memory_mib)) * (1 << 20)
    except ValueError:
        memory_bytes = None
    return {
        "name": name,
        "memory_total_bytes": memory_bytes,
        "driver_version": driver,
        "compute_capability": capability,
    }


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


def describe_device() -> dict[str, Any]:
    """The device record of the probe JSON (all memory in bytes, versions as strings)."""
    devices = jax.local_devices()
    first = devices[0]
    stats = _memory_stats(first)
    smi = nvidia_smi() if first.platform == "cuda" else {}
    bytes_limit = stats.get("bytes_limit")
    memory_total = smi.get("memory_total_bytes")
    capability = getattr(first, "compute_capability", None) or smi.get("compute_capability")
    memory_gib = estimated_memory_gib(memory_total, bytes_limit)
    match = match_device(first.device_kind, memory_gib)
    info: dict[str, Any] = {
        "backend": jax.default_backend(),
        "platform": first.platform,
        "device_kind": first.device_kind,
        "device_count": len(devices),
        "process_count": jax.process_count(),
        "memory_limit_bytes": int(bytes_limit) if bytes_limit else None,
        "memory_total_bytes": memory_total,
        "memory_gib_for_matching": round(memory_gib, 2) if memory_gib else None,
        "compute_capability": str(capability) if capability else None,
        "platform_version": getattr(first.client, "platform_version", None),
        "driver_version": smi.get("driver_version"),
        "jax_version": jax.__version__,
        "jaxlib_version": _version("jaxlib"),
        "numpy_version": _version("numpy"),
        "python_version": platform.python_version(),
        "os": platform.platform(),
        "host_cpu_model": host_cpu_model(),
        "host_cpu_count": host_cpu_count(),
        "catalog_id": match.gpu_id,
        "catalog_match": match.reason,
    }
    if match.note:
        info["catalog_note"] = match.note
    if first.platform == "cuda":
        info.update(cuda_versions())
    return info
