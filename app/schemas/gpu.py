"""GPU as the API returns it (field names are the v1 contract of docs/api.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from app.schemas.catalog import FieldNote, Frameworks, PeakTflops, Platform, Segment, Vendor
from app.schemas.offers import OfferRead


class Framework(StrEnum):
    pytorch = "pytorch"
    jax = "jax"
    tensorflow = "tensorflow"


class SortOrder(StrEnum):
    asc = "asc"
    desc = "desc"


class GpuSort(StrEnum):
    id = "id"
    name = "name"
    vendor = "vendor"
    release_date = "release_date"
    memory_gb = "memory_gb"
    memory_bandwidth_gb_s = "memory_bandwidth_gb_s"
    bf16_tflops = "bf16_tflops"
    fp16_tflops = "fp16_tflops"
    fp32_tflops = "fp32_tflops"
    fp8_tflops = "fp8_tflops"
    tdp_w = "tdp_w"


@dataclass(frozen=True)
class GpuFilters:
    """What a GPU list is filtered by; None means no filter."""

    vendor: str | None = None
    segment: str | None = None
    ecosystem: str | None = None
    framework: str | None = None
    min_memory_gb: float | None = None
    q: str | None = None


class SourceRead(BaseModel):
    title: str = Field(description="Title of the datasheet, whitepaper or price page.")
    url: str = Field(description="Where it is.")
    retrieved: dt.date = Field(description="When it was read (date).")
    fields: list[str] | None = Field(None, description="Which fields it backs; None = all.")
    where: str | None = Field(None, description="Page, table or section within it.")


class InterconnectRead(BaseModel):
    type: str = Field(description="Scale-up link (NVLink 4, Infinity Fabric, ...).")
    bandwidth_gb_s: float | None = Field(None, description="Total bidirectional GB/s per GPU.")
    note: str | None = Field(None, description="Caveat about the figure.")


class EcosystemRead(BaseModel):
    platform: Platform = Field(description="Software platform: cuda, rocm, oneapi or synapseai.")
    compute_capability: str | None = Field(
        None, description="CUDA compute capability (NVIDIA) or gfx target (AMD)."
    )
    rocm_supported: bool | None = Field(
        None, description="Listed on AMD's ROCm support matrix (AMD only)."
    )
    frameworks: Frameworks = Field(description="Official framework support.")


class PriceRead(BaseModel):
    kind: str = Field(description="cloud_on_demand, cloud_reserved, cloud_spot or purchase.")
    provider: str = Field(description="Cloud provider or seller.")
    instance: str | None = Field(None, description="Instance type.")
    gpus_per_instance: int | None = Field(None, description="GPUs per instance (count).")
    region: str | None = Field(None, description="Cloud region.")
    instance_usd_per_hour: float | None = Field(
        None, description="Price of the whole instance, USD per hour."
    )
    usd_per_gpu_hour: float | None = Field(None, description="Price per GPU, USD per GPU-hour.")
    purchase_usd: float | None = Field(None, description="Purchase price of one GPU, USD.")
    observed: str = Field(description="When the price was observed (YYYY-MM[-DD] or unknown).")
    source: SourceRead = Field(description="Where the price was read.")
    note: str | None = Field(None, description="Caveat about the price.")


class GpuRead(BaseModel):
    """A catalog GPU; `peak_tflops` holds dense figures only (int8 in TOPS)."""

    id: str = Field(description="Catalog id.")
    name: str = Field(description="Marketing name.")
    vendor: Vendor = Field(description="nvidia, amd or intel.")
    segment: Segment = Field(description="consumer, workstation or datacenter.")
    architecture: str = Field(description="Chip architecture (Hopper, CDNA 3, ...).")
    form_factor: str = Field(description="sxm, pcie, oam, nvl-pair, superchip, card or mezzanine.")
    release_date: str | None = Field(None, description="Release date, YYYY-MM[-DD].")
    memory_gb: float = Field(description="Device memory, GB (10^9 bytes) as marketed.")
    memory_type: str = Field(description="Memory technology (HBM3, GDDR6X, ...).")
    memory_bandwidth_gb_s: float = Field(description="Peak device-memory bandwidth, GB/s.")
    tdp_w: float | None = Field(None, description="Board power, W (None where unpublished).")
    peak_tflops: PeakTflops = Field(
        description="Dense peak throughput by precision, TFLOP/s (int8 in TOPS)."
    )
    pcie_gen: int | None = Field(None, description="PCIe generation of the host interface.")
    interconnect: InterconnectRead | None = Field(
        None, description="Scale-up GPU-to-GPU link, if any."
    )
    launch_price_usd: float | None = Field(None, description="Launch (MSRP) price, USD.")
    ecosystem: EcosystemRead = Field(description="Software platform and framework support.")
    sources: list[SourceRead] = Field(description="Datasheets and pages the figures come from.")


class GpuDetailRead(GpuRead):
    """A GPU with everything known about it: notes on derived fields, prices, measurements."""

    memory_bus_width_bits: int | None = Field(None, description="Memory bus width, bits.")
    notes: list[FieldNote] = Field(description="How derived figures were computed.")
    prices: list[PriceRead] = Field(description="Cloud and purchase prices with their sources.")
    measurements: list[dict[str, object]] = Field(
        default_factory=list, description="Probe measurements of this GPU model, newest first."
    )
    offers: list[OfferRead] = Field(
        default_factory=list, description="Rentable instances of this GPU, cheapest first."
    )


class GpuPage(BaseModel):
    items: list[GpuRead] = Field(description="This page of GPUs.")
    total: int = Field(description="How many GPUs match the filters in all.")
    limit: int = Field(description="Page size asked for (count).")
    offset: int = Field(description="Rows skipped (count).")
