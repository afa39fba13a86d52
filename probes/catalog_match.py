"""Map a device's name (JAX `device_kind`) to a catalog GPU id, and read that catalog record.

Matching is table-driven: `RULES` holds one row per device-name pattern, matched against the
whole normalised name (`normalize`: lower case, vendor words and punctuation dropped), so that
"NVIDIA GeForce RTX 4090 Laptop GPU" or "RTX 4090 D" never pass for an RTX 4090. Where one name
covers cards that differ only in memory (the RTX 3080 10 and 12 GB, an A100-SXM4 whose name
lost its size), the row lists ids by memory size; the size comes from the name when it has one,
else from the measured device memory (nearest size within 15%). No rule, or an ambiguity the
memory cannot settle, gives None: "unmatched" is an honest answer, a wrong id is not.

Sizes are marketing sizes, which are GiB in practice (an "80GB" H100 has 81,559 MiB), so memory
is passed here in GiB.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MEMORY_TOLERANCE = 0.15  # measured memory within 15% of a listed size selects it
_GCD_NOTE = (
    "JAX sees each of the package's 2 GCDs as a device; catalog figures are per package (2 GCDs)"
)


@dataclass(frozen=True)
class Rule:
    """One device-name pattern and the catalog id (or ids by memory size in GiB) it means.

    `gpu_id=None` without `by_memory_gib` marks a device known NOT to be in the catalog (a
    variant with other clocks or memory), so that no looser rule claims it.
    """

    pattern: str
    gpu_id: str | None = None
    by_memory_gib: Mapping[int, str] | None = None
    note: str | None = None


@dataclass(frozen=True)
class Match:
    """The outcome of matching: the id (None when unmatched) and why."""

    gpu_id: str | None
    reason: str
    note: str | None = None


def _one(pattern: str, gpu_id: str | None, note: str | None = None) -> Rule:
    return Rule(pattern, gpu_id, None, note)


def _mem(pattern: str, by_memory_gib: Mapping[int, str], note: str | None = None) -> Rule:
    return Rule(pattern, None, by_memory_gib, note)


_SIZE = r"(?: (?P<mem>\d+)gb)?"  # an optional " 80gb" whose number selects by memory

RULES: tuple[Rule, ...] = (
    # NVIDIA data center. CUDA device names: "Tesla V100-SXM2-16GB", "NVIDIA A100-SXM4-80GB",
    # "NVIDIA A100 80GB PCIe", "NVIDIA H100 80GB HBM3" (SXM5; the PCIe card uses HBM2e).
    _mem(rf"v100 sxm2{_SIZE}", {16: "nvidia-v100-sxm2-16gb", 32: "nvidia-v100-sxm2-32gb"}),
    _mem(rf"v100 pcie{_SIZE}", {16: "nvidia-v100-pcie-16gb", 32: "nvidia-v100-pcie-32gb"}),
    _one(r"t4", "nvidia-t4"),
    _one(r"a2", "nvidia-a2"),
    _one(r"a10", "nvidia-a10"),
    _one(r"a10g", "nvidia-a10g"),
    _one(r"a30", "nvidia-a30"),
    _one(r"a40", "nvidia-a40"),
    _mem(rf"a100 sxm4?{_SIZE}", {40: "nvidia-a100-sxm4-40gb", 80: "nvidia-a100-sxm4-80gb"}),
    _mem(rf"a100 pcie{_SIZE}", {40: "nvidia-a100-pcie-40gb", 80: "nvidia-a100-pcie-80gb"}),
    _mem(r"a100 (?P<mem>\d+)gb pcie", {40: "nvidia-a100-pcie-40gb", 80: "nvidia-a100-pcie-80gb"}),
    _one(r"l4", "nvidia-l4"),
    _one(r"l40", "nvidia-l40"),
    _one(r"l40s", "nvidia-l40s"),
    _one(r"h100 pcie(?: 80gb)?", "nvidia-h100-pcie"),
    _one(r"h100 nvl(?: 94gb)?", "nvidia-h100-nvl"),
    _one(
        r"h100(?: sxm5?)? 96gb(?: hbm2e)?",
        "nvidia-h100-sxm-96gb",
        "96 GB HBM2e H100 of Meta's Grand Teton hosts (torchtitan benchmark hardware); "
        "the device name is assumed to carry its memory size",
    ),
    _one(r"h100(?: sxm5?)?(?: 80gb)? hbm3|h100 sxm5?(?: 80gb)?", "nvidia-h100-sxm"),
    _one(r"h200(?: sxm)?(?: 141gb)?(?: hbm3e)?", "nvidia-h200-sxm"),
    _one(r"h200 nvl(?: 141gb)?", "nvidia-h200-nvl"),
    _one(r"h20", "nvidia-h20"),
    _one(r"gh200 480gb", "nvidia-gh200", "GH200 with 96 GB HBM3 (480 GB is its LPDDR5X)"),
    _one(r"gh200 144g(?:b)? hbm3e", None, "the 144 GB HBM3e GH200 is not in the catalog"),
    _one(r"b200", "nvidia-b200"),
    _one(r"gb200", "nvidia-gb200"),
    _one(r"b300(?: sxm6 ac)?", "nvidia-b300"),
    _one(r"gb300", "nvidia-gb300"),
    # NVIDIA workstation.
    _one(r"quadro rtx 6000", "nvidia-quadro-rtx-6000"),
    _one(r"quadro rtx 8000", "nvidia-quadro-rtx-8000"),
    _mem(rf"rtx a2000{_SIZE}", {12: "nvidia-rtx-a2000-12gb"}),
    _one(r"rtx a4000", "nvidia-rtx-a4000"),
    _one(r"rtx a4500", "nvidia-rtx-a4500"),
    _one(r"rtx a5000", "nvidia-rtx-a5000"),
    _one(r"rtx a5500", "nvidia-rtx-a5500"),
    _one(r"rtx a6000", "nvidia-rtx-a6000"),
    _one(r"rtx 2000 ada(?: generation)?", "nvidia-rtx-2000-ada"),
    _one(r"rtx 4000 ada(?: generation)?", "nvidia-rtx-4000-ada"),
    _one(r"rtx 5000 ada(?: generation)?", "nvidia-rtx-5000-ada"),
    _one(r"rtx 6000 ada(?: generation)?", "nvidia-rtx-6000-ada"),
    _one(r"rtx pro 6000 blackwell(?: workstation edition)?", "nvidia-rtx-pro-6000-blackwell"),
    _one(r"rtx pro 6000 blackwell server edition", "nvidia-rtx-pro-6000-blackwell-server"),
    _one(r"rtx pro 6000 blackwell max q workstation edition", None, "300 W Max-Q not in catalog"),
    _mem(r"rtx pro 5000 blackwell", {48: "nvidia-rtx-pro-5000-blackwell"}),
    _one(r"rtx pro 4500 blackwell", "nvidia-rtx-pro-4500-blackwell"),
    _one(r"rtx pro 4000 blackwell", "nvidia-rtx-pro-4000-blackwell"),
    # NVIDIA consumer. One CUDA name covers several memory sizes for some cards.
    _one(r"titan v", "nvidia-titan-v"),
    _one(r"titan rtx", "nvidia-titan-rtx"),
    _mem(r"geforce rtx 2060", {6: "nvidia-geforce-rtx-2060"}),
    _one(r"geforce rtx 2070", "nvidia-geforce-rtx-2070"),
    _one(r"geforce rtx 2080", "nvidia-geforce-rtx-2080"),
    _one(r"geforce rtx 2080 super", "nvidia-geforce-rtx-2080-super"),
    _one(r"geforce rtx 2080 ti", "nvidia-geforce-rtx-2080-ti"),
    _mem(r"geforce rtx 3060", {12: "nvidia-geforce-rtx-3060-12gb"}),
    _one(r"geforce rtx 3060 ti", "nvidia-geforce-rtx-3060-ti"),
    _one(r"geforce rtx 3070", "nvidia-geforce-rtx-3070"),
    _one(r"geforce rtx 3070 ti", "nvidia-geforce-rtx-3070-ti"),
    _mem(
        r"geforce rtx 3080",
        {10: "nvidia-geforce-rtx-3080-10gb", 12: "nvidia-geforce-rtx-3080-12gb"},
    ),
    _one(r"geforce rtx 3080 ti", "nvidia-geforce-rtx-3080-ti"),
    _one(r"geforce rtx 3090", "nvidia-geforce-rtx-3090"),
    _one(r"geforce rtx 3090 ti", "nvidia-geforce-rtx-3090-ti"),
    _mem(r"geforce rtx 4060 ti", {16: "nvidia-geforce-rtx-4060-ti-16gb"}),
    _one(r"geforce rtx 4070", "nvidia-geforce-rtx-4070"),
    _one(r"geforce rtx 4070 super", "nvidia-geforce-rtx-4070-super"),
    _one(r"geforce rtx 4070 ti", "nvidia-geforce-rtx-4070-ti"),
    _one(r"geforce rtx 4070 ti super", "nvidia-geforce-rtx-4070-ti-super"),
    _one(r"geforce rtx 4080", "nvidia-geforce-rtx-4080"),
    _one(r"geforce rtx 4080 super", "nvidia-geforce-rtx-4080-super"),
    _one(r"geforce rtx 4090", "nvidia-geforce-rtx-4090"),
    _mem(r"geforce rtx 5060 ti", {16: "nvidia-geforce-rtx-5060-ti-16gb"}),
    _one(r"geforce rtx 5070", "nvidia-geforce-rtx-5070"),
    _one(r"geforce rtx 5070 ti", "nvidia-geforce-rtx-5070-ti"),
    _one(r"geforce rtx 5080", "nvidia-geforce-rtx-5080"),
    _one(r"geforce rtx 5090", "nvidia-geforce-rtx-5090"),
    # AMD (ROCm names devices "AMD Instinct MI300X"; some stacks give the gfx target instead).
    _mem(r"(?:radeon )?instinct mi50", {16: "amd-instinct-mi50"}),
    _one(r"instinct mi100", "amd-instinct-mi100"),
    _one(r"instinct mi210", "amd-instinct-mi210"),
    _one(r"instinct mi250", "amd-instinct-mi250", _GCD_NOTE),
    _one(r"instinct mi250x", "amd-instinct-mi250x", _GCD_NOTE),
    _one(r"instinct mi300a", "amd-instinct-mi300a"),
    _one(r"instinct mi300x(?: oam)?", "amd-instinct-mi300x"),
    _one(r"instinct mi325x(?: oam)?", "amd-instinct-mi325x"),
    _one(r"instinct mi350x", "amd-instinct-mi350x"),
    _one(r"instinct mi355x", "amd-instinct-mi355x"),
    _mem(r"gfx942", {192: "amd-instinct-mi300x", 256: "amd-instinct-mi325x"}),
    _one(r"radeon rx 7900 xtx", "amd-radeon-rx-7900-xtx"),
    _one(r"radeon rx 7900 xt", "amd-radeon-rx-7900-xt"),
    _one(r"radeon rx 7900 gre", "amd-radeon-rx-7900-gre"),
    _one(r"radeon rx 9070 xt", "amd-radeon-rx-9070-xt"),
    _one(r"radeon rx 9070", "amd-radeon-rx-9070"),
    _one(r"radeon pro w7900", "amd-radeon-pro-w7900"),
    _one(r"radeon pro w7800", "amd-radeon-pro-w7800"),
    # Intel (names as Level Zero / SYCL report them).
    _one(r"data center gpu max 1100", "intel-max-1100"),
    _one(r"data center gpu max 1550", "intel-max-1550"),
    _one(r"data center gpu flex 170", "intel-flex-170"),
    _mem(r"arc a770(?: graphics)?", {16: "intel-arc-a770-16gb"}),
    _one(r"arc b580(?: graphics)?", "intel-arc-b580"),
)

_VENDOR_WORDS = ("nvidia", "tesla", "amd", "intel")


def normalize(device_kind: str) -> str:
    """Lower case, "(R)"/"(TM)" dropped, "-"/"_" as spaces, leading vendor words removed.

    "NVIDIA A100-SXM4-80GB" -> "a100 sxm4 80gb"; "Tesla T4" -> "t4";
    "Intel(R) Data Center GPU Max 1550" -> "data center gpu max 1550".
    """
    text = re.sub(r"\((?:r|tm)\)", " ", device_kind.lower())
    words = re.sub(r"[-_/,]", " ", text).split()
    while words and words[0] in _VENDOR_WORDS:
        words.pop(0)
    return " ".join(words)


def _by_memory(rule: Rule, name_gib: int | None, memory_gib: float | None) -> Match:
    sizes = rule.by_memory_gib or {}
    if name_gib is not None:
        gpu_id = sizes.get(name_gib)
        if gpu_id is None:
            return Match(None, f"a {name_gib} GB variant is not in the catalog", rule.note)
        return Match(gpu_id, f"matched /{rule.pattern}/ by the size in its name", rule.note)
    if memory_gib is None:
        return Match(None, f"ambiguous without the memory size (one of {sorted(sizes)} GB)")
    nearest = min(sizes, key=lambda size: abs(size - memory_gib))
    if abs(nearest - memory_gib) > MEMORY_TOLERANCE * nearest:
        return Match(
            None, f"{memory_gib:.1f} GiB matches none of the catalog's {sorted(sizes)} GB variants"
        )
    return Match(
        sizes[nearest], f"matched /{rule.pattern}/ by memory ({memory_gib:.1f} GiB)", rule.note
    )


def match_device(device_kind: str, memory_gib: float | None = None) -> Match:
    """The catalog id for `device_kind` (the first rule whose pattern matches the whole
    normalised name), with the reason; `memory_gib` settles names that do not give the size."""
    name = normalize(device_kind)
    for rule in RULES:
        found = re.fullmatch(rule.pattern, name)
        if found is None:
            continue
        if rule.by_memory_gib is not None:
            mem = found.groupdict().get("mem")
            return _by_memory(rule, int(mem) if mem else None, memory_gib)
        if rule.gpu_id is None:
            return Match(None, "a known device that the catalog does not list", rule.note)
        return Match(rule.gpu_id, f"matched /{rule.pattern}/", rule.note)
    return Match(None, f"no catalog rule for {device_kind!r}")


def match_catalog_id(device_kind: str, memory_gib: float | None = None) -> str | None:
    """The catalog GPU id for a device name, or None when it is not (surely) in the catalog."""
    return match_device(device_kind, memory_gib).gpu_id


def rule_ids() -> set[str]:
    """Every catalog id some rule can return (the tests check each exists in the catalog)."""
    ids = {rule.gpu_id for rule in RULES if rule.gpu_id}
    for rule in RULES:
        ids.update((rule.by_memory_gib or {}).values())
    return ids


def default_catalog_dir() -> Path:
    """`$ADVISOR_CATALOG_DIR/gpus`, else the repository's catalog/gpus next to this package."""
    configured = os.environ.get("ADVISOR_CATALOG_DIR")
    root = Path(configured) if configured else Path(__file__).resolve().parent.parent / "catalog"
    return root / "gpus"


def load_catalog_record(gpu_id: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The catalog record of `gpu_id` from the GPU YAML files, or None.

    None also when PyYAML is not installed or the catalog folder is absent (a remote agent may
    run the probes without the repository): the probes then skip the comparison with peaks.
    """
    try:
        import yaml
    except ImportError:
        return None
    folder = directory or default_catalog_dir()
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for record in data.get("gpus", []):
            if isinstance(record, dict) and record.get("id") == gpu_id:
                return record
    return None


def peak_tflops_of(record: Mapping[str, Any]) -> dict[str, float]:
    """Dense peak TFLOP/s by precision from a catalog record (absent or null ones left out)."""
    peaks = record.get("peak_tflops") or {}
    return {str(k): float(v) for k, v in peaks.items() if isinstance(v, int | float) and v > 0}


def memory_bandwidth_gb_s_of(record: Mapping[str, Any]) -> float | None:
    """Peak memory bandwidth in GB/s (10^9 B/s) from a catalog record, if given."""
    value = record.get("memory_bandwidth_gb_s")
    return float(value) if isinstance(value, int | float) and value > 0 else None
