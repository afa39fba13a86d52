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
    observed: PartialDate | Literal["unknown"]
    source: SourceRef
    note: str | None = None

    @model_validator(mode="after")
    def _has_a_price(self) -> CatalogPrice:
        if self.kind is PriceKind.purchase:
            if self.purchase_usd is None:
                raise ValueError("a purchase price needs purchase_usd")
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


class CompiledCostsData(BaseModel):
    """One model of catalog/model_costs.yaml (written by scripts/compile_model_costs.py)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    parameters: PositiveFloat
    tokens_per_sample: int = Field(ge=1)
    source: str
    per_sample: dict[str, float]
