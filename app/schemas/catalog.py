"""The catalog's on-disk format (catalog/*.yaml), validated strictly at start-up.

`catalog/README.md` is the field dictionary for these classes; keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    NonNegativeFloat,
    PositiveFloat,
    model_validator,
)

ID_PATTERN = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"
_DATE_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


def _date_text(value: Any) -> Any:
    """YAML reads 2022-09-20 as a date and 2022-09 as text; keep both as ISO text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _check_partial_date(value: str) -> str:
    if not _DATE_PATTERN.match(value):
        raise ValueError("must be a date written YYYY-MM or YYYY-MM-DD")
    return value


PartialDate = Annotated[str, BeforeValidator(_date_text), AfterValidator(_check_partial_date)]
Slug = Annotated[str, Field(pattern=ID_PATTERN, min_length=2, max_length=80)]


class Vendor(StrEnum):
    nvidia = "nvidia"
    amd = "amd"
    intel = "intel"


class Segment(StrEnum):
    consumer = "consumer"
    workstation = "workstation"
    datacenter = "datacenter"


class Platform(StrEnum):
    cuda = "cuda"
    rocm = "rocm"
    oneapi = "oneapi"
    synapseai = "synapseai"


PRECISIONS: tuple[str, ...] = (
    "fp64",
    "fp64_matrix",
    "fp32",
    "tf32",
    "bf16",
    "fp16",
    "fp8",
    "int8",
    "fp4",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceRef(_Strict):
    """Where a figure came from: a datasheet, whitepaper or price page."""

    title: str = Field(min_length=3, description="Title of the datasheet, whitepaper or page.")
    url: HttpUrl = Field(description="Where it is.")
    retrieved: dt.date = Field(description="When it was read (date).")
    fields: list[str] | None = Field(None, description="Which fields it backs; None = all.")
    where: str | None = Field(None, description="Page, table or section within it.")


class FieldNote(_Strict):
    """How a field was derived (e.g. dense = sparse / 2) or a caveat about it."""

    field: str = Field(min_length=1, description="The field the note is about.")
    note: str = Field(min_length=3, description="How it was derived, or a caveat.")


class PeakTflops(_Strict):
    """Dense peak throughput in TFLOP/s (int8 in TOPS); None where the chip lacks the precision."""

    fp64: NonNegativeFloat | None = Field(None, description="Dense FP64 (vector), TFLOP/s.")
    fp64_matrix: NonNegativeFloat | None = Field(
        None, description="Dense FP64 on matrix units, TFLOP/s."
    )
    fp32: NonNegativeFloat | None = Field(None, description="Dense FP32, TFLOP/s.")
    tf32: NonNegativeFloat | None = Field(None, description="Dense TF32, TFLOP/s.")
    bf16: NonNegativeFloat | None = Field(None, description="Dense BF16, TFLOP/s.")
    fp16: NonNegativeFloat | None = Field(None, description="Dense FP16, TFLOP/s.")
    fp8: NonNegativeFloat | None = Field(None, description="Dense FP8, TFLOP/s.")
    int8: NonNegativeFloat | None = Field(None, description="Dense INT8, TOPS.")
    fp4: NonNegativeFloat | None = Field(None, description="Dense FP4, TFLOP/s.")


class Interconnect(_Strict):
    type: str = Field(min_length=2)
    bandwidth_gb_s: PositiveFloat | None = None
    note: str | None = None


class Frameworks(_Strict):
    pytorch: bool | None = Field(None, description="PyTorch officially supports it.")
    jax: bool | None = Field(None, description="JAX officially supports it.")
    tensorflow: bool | None = Field(None, description="TensorFlow officially supports it.")


class Ecosystem(_Strict):
    platform: Platform
    compute_capability: str | None = None
    rocm_supported: bool | None = None
    frameworks: Frameworks = Frameworks()


class CatalogGpu(_Strict):
    """One GPU (or accelerator) record of catalog/gpus/*.yaml."""

    id: Slug
    vendor: Vendor
    name: str = Field(min_length=2)
    architecture: str = Field(min_length=2)
    segment: Segment
    form_factor: Literal["sxm", "pcie", "oam", "nvl-pair", "superchip", "card", "mezzanine"]
    release_date: PartialDate | None = None
    memory_gb: PositiveFloat
    memory_type: str = Field(min_length=3)
    memory_bus_width_bits: int | None = Field(default=None, gt=0)
    memory_bandwidth_gb_s: PositiveFloat
    peak_tflops: PeakTflops
    tdp_w: PositiveFloat | None = None
    pcie_gen: int | None = Field(default=None, ge=1, le=7)
    interconnect: Interconnect | None = None
    launch_price_usd: PositiveFloat | None = None
    ecosystem: Ecosystem
    sources: list[SourceRef] = Field(min_length=1)
    notes: list[FieldNote] = []
    # Feasibility facts (issue 11): can cards of this model talk peer-to-peer (GeForce since the
    # 40 series and consumer Radeons cannot: traffic goes through host memory), how many fit one
    # host, hardware partitioning (MIG...), and whether the vendor still sells it.
    peer_to_peer: bool | None = None
    max_per_host: int | None = Field(default=None, ge=1, le=72)
    partitioning: str | None = None
    lifecycle: Literal["current", "discontinued"] | None = None

    @model_validator(mode="after")
    def _has_some_throughput(self) -> CatalogGpu:
        if not any(getattr(self.peak_tflops, p) for p in PRECISIONS):
            raise ValueError("peak_tflops must give at least one precision")
        return self


class PriceKind(StrEnum):
    cloud_on_demand = "cloud_on_demand"
    cloud_reserved = "cloud_reserved"
    cloud_spot = "cloud_spot"
    purchase = "purchase"


class CatalogPrice(_Strict):
    """One dated price of catalog/prices.yaml: a cloud hourly rate or a purchase price."""

    gpu: Slug
    kind: PriceKind
    provider: str = Field(min_length=2)
    instance: str | None = None
    gpus_per_instance: int | None = Field(default=None, ge=1)
    region: str | None = None
    instance_usd_per_hour: PositiveFloat | None = None
    usd_per_gpu_hour: PositiveFloat | None = None
    purchase_usd: PositiveFloat | None = None
    price_basis: Literal["launch_msrp", "street"] | None = None
    observed: PartialDate | Literal["unknown"]
    source: SourceRef
    note: str | None = None

    @model_validator(mode="after")
    def _has_a_price(self) -> CatalogPrice:
        if self.kind is PriceKind.purchase:
            if self.purchase_usd is None:
                raise ValueError("a purchase price needs purchase_usd")
            if self.price_basis is None:
                raise ValueError("a purchase price needs price_basis: launch_msrp or street")
        elif self.usd_per_gpu_hour is None:
            raise ValueError("a cloud price needs usd_per_gpu_hour")
        return self


class CatalogModel(BaseModel):
    """A model preset of catalog/models.yaml; `architecture` is checked by the estimator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug = Field(description="Preset id (use as model.preset).")
    name: str = Field(min_length=2, description="Model name.")
    family: str = Field(min_length=2, description="Model family (llama, mistral, ...).")
    kind: str = Field(
        min_length=2,
        description="decoder, encoder, encoder-decoder, vision-transformer, cnn or rnn.",
    )
    published_parameters: PositiveFloat = Field(
        description="Parameter count its authors publish (count)."
    )
    published_parameters_note: str | None = Field(
        None, description="Where that count comes from or what it includes."
    )
    architecture: dict[str, Any] = Field(
        description="The architecture's dimensions (layers, hidden size, heads, ...)."
    )
    sources: list[SourceRef] = Field(
        min_length=1, description="Papers and model cards the figures come from."
    )
    note: str | None = Field(None, description="Caveat about the preset.")


class _Measurement(BaseModel):
    """A published micro-benchmark result (catalog/efficiency.yaml); extra keys keep context."""

    model_config = ConfigDict(extra="allow", frozen=True)

    gpu: str = Field(min_length=2)
    applies_to: list[str] = []
    source: SourceRef

    def covers(self, gpu_id: str) -> bool:
        return self.gpu == gpu_id or gpu_id in self.applies_to


class MatmulMeasurement(_Measurement):
    dtype: str
    achieved_tflops: PositiveFloat


class BandwidthMeasurement(_Measurement):
    achieved_gb_s: PositiveFloat
    kernel: str


class InterconnectMeasurement(_Measurement):
    collective: str
    bus_bandwidth_gb_s: PositiveFloat | None = None


class EfficiencyData(BaseModel):
    """catalog/efficiency.yaml: achievable matmul, bandwidth and collective measurements."""

    model_config = ConfigDict(extra="allow", frozen=True)

    matmul: list[MatmulMeasurement] = []
    bandwidth: list[BandwidthMeasurement] = []
    interconnect: list[InterconnectMeasurement] = []


class FamilyBandData(BaseModel):
    """Out-of-sample error of one validation family (leave-one-source-out)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: int
    sources: int
    p75_pct: NonNegativeFloat | None = None
    median_pct: NonNegativeFloat | None = None
    scale: PositiveFloat = 1.0
    accuracy_pct: NonNegativeFloat | None = None


class ErrorBandData(BaseModel):
    """catalog/error_bands.yaml: written by `gpu-advisor validate --write-error-band`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_pct: PositiveFloat
    memory_pct: PositiveFloat
    time_median_pct: NonNegativeFloat
    memory_median_pct: NonNegativeFloat
    time_rows: int
    memory_rows: int
    basis: str
    families: dict[str, FamilyBandData] = {}


class CompiledCostsData(BaseModel):
    """One model of catalog/model_costs.yaml (written by scripts/compile_model_costs.py)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    parameters: PositiveFloat
    tokens_per_sample: int = Field(ge=1)
    source: str
    per_sample: dict[str, float]


# ---------------------------------------------------------------- offers, hosts, software (issue 11)

ProviderSlug = Annotated[str, Field(pattern=ID_PATTERN, min_length=2, max_length=40)]


class PriceSource(_Strict):
    """The page or data set a price was read from; `commit` pins a repository snapshot."""

    title: str = Field(min_length=3)
    url: HttpUrl
    retrieved: dt.date
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{7,40}$")
    note: str | None = None


class CatalogProvider(_Strict):
    """A provider of catalog/offers/providers.yaml."""

    id: ProviderSlug
    name: str = Field(min_length=2)
    kind: Literal["hyperscaler", "gpu-cloud", "marketplace"]
    url: HttpUrl


class CatalogOffer(_Strict):
    """One rentable unit of catalog/offers/<provider>.yaml: an instance with its GPUs and prices.

    Prices are per instance-hour in USD; `usd_per_gpu_hour` divides by the GPUs in the instance.
    `observed` (the date the price was read) and `source` are required: an undated or unsourced
    price cannot be ranked.
    """

    provider: ProviderSlug
    instance: str = Field(min_length=1)
    gpu: Slug
    gpus_per_instance: int = Field(ge=1, le=72)
    vcpus: int | None = Field(default=None, ge=1)
    host_memory_gb: PositiveFloat | None = None
    interconnect: str | None = None
    network_gbps_per_gpu: PositiveFloat | None = None
    multi_node: bool = False
    usd_per_instance_hour: PositiveFloat | None = None
    spot_usd_per_instance_hour: PositiveFloat | None = None
    reserved_usd_per_instance_hour: PositiveFloat | None = None
    regions: list[str] = Field(min_length=1)
    observed: dt.date
    source: PriceSource
    note: str | None = None

    @model_validator(mode="after")
    def _has_a_price(self) -> CatalogOffer:
        if (
            self.usd_per_instance_hour is None
            and self.spot_usd_per_instance_hour is None
            and self.reserved_usd_per_instance_hour is None
        ):
            raise ValueError("an offer needs an on-demand, spot or reserved price")
        return self

    @property
    def usd_per_gpu_hour(self) -> float | None:
        """On-demand USD per GPU-hour, None where only spot/reserved is known."""
        if self.usd_per_instance_hour is None:
            return None
        return self.usd_per_instance_hour / self.gpus_per_instance

    @property
    def label(self) -> str:
        return f"{self.provider} {self.instance}"


class CatalogHost(_Strict):
    """A host class of catalog/hosts.yaml: what a machine holding `max_gpus` GPUs costs, GPUs excluded."""

    id: Slug
    name: str = Field(min_length=3)
    gpu_form_factors: list[
        Literal["sxm", "pcie", "oam", "nvl-pair", "superchip", "card", "mezzanine"]
    ] = Field(min_length=1)
    max_gpus: int = Field(ge=1, le=72)
    usd: PositiveFloat
    observed: dt.date
    source: PriceSource
    note: str | None = None


class SourcedValue(_Strict):
    """A default with its source (`source`) or, for a stated assumption, a `note` saying so."""

    value: PositiveFloat
    source: PriceSource | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _sourced_or_stated(self) -> SourcedValue:
        if self.source is None and not self.note:
            raise ValueError("a default needs a source, or a note stating it is an assumption")
        return self


class HostsData(_Strict):
    """catalog/hosts.yaml: host classes plus the defaults that turn a purchase into a job cost."""

    hosts: list[CatalogHost] = Field(min_length=1)
    pue: SourcedValue
    default_usd_per_kwh: SourcedValue
    utilization: SourcedValue
    amortization_years: SourcedValue

    @model_validator(mode="after")
    def _ranges(self) -> HostsData:
        if not 1.0 <= self.pue.value <= 3.0:
            raise ValueError("pue.value must be between 1.0 and 3.0")
        if not 0.0 < self.utilization.value <= 1.0:
            raise ValueError("utilization.value must be a fraction in (0, 1]")
        return self


class Technique(StrEnum):
    pytorch = "pytorch"
    jax = "jax"
    flash_attention = "flash-attention"
    bitsandbytes = "bitsandbytes"
    qlora = "qlora"
    fsdp = "fsdp"
    vllm = "vllm"
    tensorrt_llm = "tensorrt-llm"
    sglang = "sglang"
    fp8_training = "fp8-training"


class SupportLevel(StrEnum):
    official = "official"
    community = "community"
    unsupported = "unsupported"


class SoftwareSupport(_Strict):
    """One row of catalog/software.yaml: how well `technique` runs on some architectures or GPUs.

    Exactly one of `architectures` (names as in the GPU records' `architecture`) or `gpus`
    (catalog ids) is given; a `gpus` row overrides an `architectures` row for those GPUs.
    """

    architectures: list[str] | None = Field(default=None, min_length=1)
    gpus: list[Slug] | None = Field(default=None, min_length=1)
    technique: Technique
    level: SupportLevel
    source: PriceSource
    note: str | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> SoftwareSupport:
        if (self.architectures is None) == (self.gpus is None):
            raise ValueError("give exactly one of architectures or gpus")
        return self

    def covers(self, gpu: CatalogGpu) -> bool:
        if self.gpus is not None:
            return gpu.id in self.gpus
        return gpu.architecture in (self.architectures or [])
