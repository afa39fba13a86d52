"""What the service believes of a probe submission: which GPU it ran on (re-identified here from
the device description, never taken from the client's `catalog_id`), whether it is a partition
or a power-capped card (kept apart from the full GPU), and whether each figure is physically
plausible for that GPU (refused with 422 naming the figure otherwise).

Bounds (a measurement outside them is a broken probe, a misidentified device or a lie):
- matmul and fused attention: 5-100% of the dtype's dense datasheet peak. MAMF-style best GEMMs
  reach 60-87% (catalog/efficiency.yaml); 5% is far below any real accelerator GEMM of a probe
  size, and more than 100% of the dense peak is impossible (sparsity is not measured);
- unfused attention and the training step: at most 100% of the peak (they may be slow);
- memory bandwidth: 20-100% of the datasheet (STREAM-like kernels reach ~80-90%,
  BabelStream on A100/H100/MI300X in catalog/efficiency.yaml).
A dtype whose peak the catalog does not give cannot be bounded: its figures are stored but
never used (efficiency needs the peak). Every device, matched or not, must report figures
above 1e-6 TFLOP/s and 1e-3 GB/s (no real device is slower).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidInputError
from app.schemas.catalog import CatalogGpu
from app.schemas.probes import ProbeResultIn, ProbeSubmission
from app.services.catalog import LoadedCatalog
from gpu_identity.matching import match_device

GIB = 1 << 30
MATMUL_BOUNDS = (0.05, 1.0)  # of the dtype's dense peak
FUSED_ATTENTION_BOUNDS = (0.05, 1.0)
BANDWIDTH_BOUNDS = (0.20, 1.0)  # of the datasheet memory bandwidth
MIN_TFLOPS = 1e-6
MIN_GB_S = 1e-3
# A card whose power limit is below this share of its TDP is not the catalog's card.
POWER_CAP_SHARE = 0.9


@dataclass(frozen=True)
class Identity:
    """The catalog GPU a submission is counted as (None: kept apart), and why."""

    gpu_id: str | None
    reason: str
    partition: str | None = None


def _invalid(loc: Sequence[str | int], message: str) -> InvalidInputError:
    return InvalidInputError(message, detail=[{"loc": ["body", *loc], "msg": message}])


def _memory_gib(device: dict[str, Any]) -> float | None:
    value = device.get("memory_gib_for_matching")
    if isinstance(value, int | float) and value > 0:
        return float(value)
    total = device.get("memory_total_bytes")
    return float(total) / GIB if isinstance(total, int | float) and total > 0 else None


def identify(submission: ProbeSubmission, catalog: LoadedCatalog) -> Identity:
    """Re-identify the device; 422 on `device.catalog_id` when the client claims another GPU."""
    device = submission.device.model_dump(mode="json")
    match = match_device(submission.device.device_kind, _memory_gib(device))
    gpu_id = match.gpu_id if match.gpu_id and catalog.gpu(match.gpu_id) is not None else None
    claimed = submission.device.catalog_id
    if claimed is not None and claimed != gpu_id:
        raise _invalid(
            ["device", "catalog_id"],
            f"device.catalog_id {claimed!r} does not match the device: "
            f"{submission.device.device_kind!r} is {gpu_id or 'no catalog GPU'} ({match.reason})",
        )
    if match.partition:
        return Identity(None, match.reason, match.partition)
    gpu = catalog.gpu(gpu_id) if gpu_id else None
    value = device.get("power_limit_w")
    limit = float(value) if isinstance(value, int | float) and value > 0 else None
    if gpu is not None and gpu.tdp_w and limit and limit < POWER_CAP_SHARE * gpu.tdp_w:
        return Identity(
            None,
            f"power-capped at {limit:g} W (datasheet {gpu.tdp_w:g} W): kept apart from {gpu_id}",
            f"power cap {limit:g} W",
        )
    return Identity(gpu_id, match.reason)


def _peak(gpu: CatalogGpu, dtype: str | None) -> float | None:
    value = getattr(gpu.peak_tflops, dtype, None) if dtype else None
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _check_range(
    loc: list[str | int], figure: float, low: float, high: float, unit: str, what: str
) -> None:
    if not (low <= figure <= high):
        raise _invalid(
            loc,
            f"{'.'.join(str(p) for p in loc)} = {figure:.4g} {unit} is implausible for {what}: "
            f"allowed {low:.4g}-{high:.4g} {unit}",
        )


def _is_measurement(result: ProbeResultIn) -> bool:
    return result.error is None and result.skipped is None


def check_plausible(submission: ProbeSubmission, gpu: CatalogGpu | None) -> None:
    """422 naming the first implausible figure (see the module docstring for the bounds)."""
    for index, r in enumerate(submission.results):
        if not _is_measurement(r):
            continue
        for name, figure, floor, unit in (
            ("tflops", r.tflops, MIN_TFLOPS, "TFLOP/s"),
            ("gb_s", r.gb_s, MIN_GB_S, "GB/s"),
        ):
            if figure is not None and (not math.isfinite(figure) or figure < floor):
                raise _invalid(
                    ["results", index, name],
                    f"results.{index}.{name} = {figure:.4g} {unit} is below {floor:g} {unit}",
                )
        if gpu is None:
            continue
        data = r.model_extra or {}
        peak = _peak(gpu, r.dtype)
        what = f"{gpu.id} {r.probe} {r.dtype}"
        if r.tflops is not None and peak:
            low, high = 0.0, 1.0
            if r.probe == "matmul":
                low, high = MATMUL_BOUNDS
            elif r.probe == "attention" and data.get("implementation") == "fused":
                low, high = FUSED_ATTENTION_BOUNDS
            if r.probe != "collective":
                _check_range(
                    ["results", index, "tflops"],
                    r.tflops,
                    low * peak,
                    high * peak,
                    "TFLOP/s",
                    f"{what} (dense peak {peak:g} TFLOP/s)",
                )
        if r.gb_s is not None and r.probe == "bandwidth":
            datasheet = gpu.memory_bandwidth_gb_s
            _check_range(
                ["results", index, "gb_s"],
                r.gb_s,
                BANDWIDTH_BOUNDS[0] * datasheet,
                BANDWIDTH_BOUNDS[1] * datasheet,
                "GB/s",
                f"{gpu.id} memory (datasheet {datasheet:g} GB/s)",
            )
