"""Device descriptions as JAX reports them on GPUs this machine does not have.

`device_kind` strings are the CUDA/ROCm device names JAX passes through (`Device.device_kind`):
"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA L4", "NVIDIA GeForce RTX 4090",
"AMD Instinct MI300X", "AMD Instinct MI300X VF" (Azure ND MI300X v5 VMs) and a MIG slice
"NVIDIA H100 80GB HBM3 MIG 1g.10gb" (NVIDIA MIG User Guide: a MIG device is named after its
parent GPU plus the profile). On both CUDA and ROCm `Device.platform` is "gpu"; the backend's
`platform_version` names the toolkit ("cuda ..." / "rocm ...": JAX's test utilities check
`'cuda' in platform_version` and `'rocm' in platform_version`). `compute_capability` is CUDA's
"major.minor" (H100 9.0, A100 8.0, L4 and RTX 4090 8.9: NVIDIA's CUDA GPUs table) or, on ROCm,
the gfx target with its features (MI300X: gfx942, AMD ROCm GPU support matrix). `bytes_limit` is
XLA's allocator limit (0.75 of memory by default).
"""

from __future__ import annotations

from probes.device import DeviceFacts

GIB = 1 << 30


def _gpu(kind: str, capability: str, version: str, memory_gib: float) -> DeviceFacts:
    return DeviceFacts(
        backend="gpu",
        platform="gpu",
        device_kind=kind,
        device_count=1,
        platform_version=version,
        compute_capability=capability,
        bytes_limit=int(0.75 * memory_gib * GIB),
    )


H100 = _gpu("NVIDIA H100 80GB HBM3", "9.0", "cuda 12080", 79.6)
A100 = _gpu("NVIDIA A100-SXM4-80GB", "8.0", "cuda 12080", 79.2)
L4 = _gpu("NVIDIA L4", "8.9", "cuda 12080", 22.5)
RTX_4090 = _gpu("NVIDIA GeForce RTX 4090", "8.9", "cuda 12080", 23.6)
MI300X = _gpu("AMD Instinct MI300X", "gfx942:sramecc+:xnack-", "rocm 60300", 192.0)
MI300X_VF = _gpu("AMD Instinct MI300X VF", "gfx942:sramecc+:xnack-", "rocm 60300", 192.0)
H100_MIG = _gpu("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "9.0", "cuda 12080", 9.75)

ALL = {
    "h100": H100,
    "a100": A100,
    "l4": L4,
    "rtx4090": RTX_4090,
    "mi300x": MI300X,
    "mi300x-vf": MI300X_VF,
    "h100-mig": H100_MIG,
}

# `nvidia-smi --query-gpu=<SMI_DEVICE_FIELDS> --format=csv,noheader,nounits -i 0` on an H100
# SXM (fields as nvidia-smi --help-query-gpu names them), and the telemetry query under load.
H100_SMI_DEVICE = "NVIDIA H100 80GB HBM3, 81559, 550.54.15, 9.0, 700.00, 700.00, 1980, Disabled\n"
H100_SMI_CAPPED = "NVIDIA H100 80GB HBM3, 81559, 550.54.15, 9.0, 400.00, 700.00, 1980, Disabled\n"
H100_SMI_TELEMETRY = "1755, 2619, 612.37, 61, 0x0000000000000000\n"
# `rocm-smi --showproductname --showdriverversion --showpower --showmaxpower --showtemp
# --showclocks --json`, shaped as rocm-smi 6.x prints it (one object per card, plus "system").
MI300X_ROCM_SMI = """{
  "card0": {
    "Card Series": "AMD Instinct MI300X OAM",
    "Card Model": "0x74a1",
    "GFX Version": "gfx942",
    "Temperature (Sensor edge) (C)": "N/A",
    "Temperature (Sensor junction) (C)": "58.0",
    "Current Socket Graphics Package Power (W)": "512.0",
    "Max Graphics Package Power (W)": "750.0",
    "sclk clock speed:": "(2100Mhz)",
    "mclk clock speed:": "(1300Mhz)"
  },
  "system": {"Driver version": "6.8.5"}
}"""
