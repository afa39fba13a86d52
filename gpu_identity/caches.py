"""Last-level cache size per catalog GPU, so that bandwidth working sets exceed it (4x).

A STREAM-like kernel whose arrays fit in the last-level cache measures the cache, not device
memory (McCalpin's STREAM rules: each array at least 4x the sum of the caches). Sizes in bytes,
with the document they come from. An unlisted GPU gets `UNKNOWN_GPU_LLC_BYTES`, the largest
listed cache (MI300X's 256 MB Infinity Cache), so that its working set is large enough whatever
it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MB = 1_000_000  # the whitepapers' "MB" (decimal; the rounding does not matter at 4x)
MIB = 1 << 20
WORKING_SET_FACTOR = 4  # STREAM: each array >= 4x the last-level cache


@dataclass(frozen=True)
class CacheSize:
    """A last-level cache: its size in bytes, what it is called, and the source."""

    llc_bytes: int
    kind: str
    source: str


_HOPPER = "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), 'H100 ... 50 MB L2 cache'"
_AMPERE = "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020), '40 MB L2 cache'"
_ADA = "NVIDIA Ada GPU Architecture whitepaper v2.02 (2023), Appendix A tables (L2 cache size)"
_CDNA3 = "AMD CDNA 3 Architecture whitepaper (2023), '256 MB AMD Infinity Cache'"
_CDNA2 = "AMD CDNA 2 Architecture whitepaper (2021), 8 MB L2 per GCD"
_VOLTA = "NVIDIA Tesla V100 GPU Architecture whitepaper (2017), '6144 KB L2 cache'"

LLC_BY_GPU: dict[str, CacheSize] = {
    "nvidia-h100-sxm": CacheSize(50 * MB, "L2", _HOPPER),
    "nvidia-h100-pcie": CacheSize(50 * MB, "L2", _HOPPER),
    "nvidia-h100-nvl": CacheSize(50 * MB, "L2", _HOPPER),
    "nvidia-h200-sxm": CacheSize(50 * MB, "L2", _HOPPER + " (H200 is the same GH100 die)"),
    "nvidia-h200-nvl": CacheSize(50 * MB, "L2", _HOPPER + " (H200 is the same GH100 die)"),
    "nvidia-a100-sxm4-40gb": CacheSize(40 * MB, "L2", _AMPERE),
    "nvidia-a100-sxm4-80gb": CacheSize(40 * MB, "L2", _AMPERE),
    "nvidia-a100-pcie-40gb": CacheSize(40 * MB, "L2", _AMPERE),
    "nvidia-a100-pcie-80gb": CacheSize(40 * MB, "L2", _AMPERE),
    "nvidia-l4": CacheSize(48 * MB, "L2", _ADA),
    "nvidia-l40": CacheSize(96 * MB, "L2", _ADA),
    "nvidia-l40s": CacheSize(96 * MB, "L2", _ADA),
    "nvidia-geforce-rtx-4090": CacheSize(72 * MB, "L2", _ADA),
    "nvidia-v100-sxm2-16gb": CacheSize(6 * MIB, "L2", _VOLTA),
    "nvidia-v100-sxm2-32gb": CacheSize(6 * MIB, "L2", _VOLTA),
    "amd-instinct-mi300x": CacheSize(256 * MB, "Infinity Cache", _CDNA3),
    "amd-instinct-mi325x": CacheSize(256 * MB, "Infinity Cache", _CDNA3 + " (MI325X: same die)"),
    "amd-instinct-mi250x": CacheSize(8 * MB, "L2 per GCD", _CDNA2),
    "amd-instinct-mi250": CacheSize(8 * MB, "L2 per GCD", _CDNA2),
}
UNKNOWN_GPU_LLC_BYTES = 256 * MB
CPU_FALLBACK_LLC_BYTES = 64 * MIB  # a large server L3, when sysfs does not say


def gpu_llc(gpu_id: str | None) -> CacheSize:
    """The last-level cache of a catalog GPU; the largest listed one when unlisted or unmatched."""
    known = LLC_BY_GPU.get(gpu_id or "")
    if known is not None:
        return known
    return CacheSize(UNKNOWN_GPU_LLC_BYTES, "unknown", "assumed: the largest listed GPU cache")


def parse_cache_size(text: str) -> int | None:
    """sysfs cache sizes ("32768K", "36M", "1024") in bytes."""
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in "KMG" else text
    return int(digits) * scale if digits.isdigit() else None


def cpu_llc(sysfs: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> CacheSize:
    """The largest cache level sysfs lists for CPU 0 (usually L3), else CPU_FALLBACK_LLC_BYTES."""
    best: tuple[int, int] | None = None
    for index in sorted(sysfs.glob("index*")):
        try:
            level = int((index / "level").read_text())
            size = parse_cache_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if size and (best is None or level > best[0]):
            best = (level, size)
    if best is None:
        return CacheSize(CPU_FALLBACK_LLC_BYTES, "unknown", "assumed: sysfs gives no cache size")
    return CacheSize(best[1], f"L{best[0]}", f"sysfs {sysfs}")


def min_array_bytes(llc: CacheSize) -> int:
    """The smallest array a bandwidth kernel may use: WORKING_SET_FACTOR x the cache."""
    return WORKING_SET_FACTOR * llc.llc_bytes
