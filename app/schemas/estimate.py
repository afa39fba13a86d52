"""POST /api/v1/estimate: request and response (the v1 contract of docs/api.md).

The response type is the estimator's own result model, re-exported here so routers depend on
schemas only."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag

from app.estimator.hf_config import SUPPORTED_FAMILIES
from app.estimator.model import TransformerShape
from app.estimator.result import Estimate
from app.estimator.workload import Workload
from app.schemas.acquisition import Acquisition
from app.schemas.catalog import ID_PATTERN

MODEL_KINDS = ("preset", "transformer", "hf_config", "parameters")


class PresetModel(BaseModel):
    """A model preset by id."""

    model_config = ConfigDict(extra="forbid", title="PresetModel")

    preset: str = Field(max_length=80, description="A model preset id (GET /api/v1/models).")


class TransformerModel(BaseModel):
    """Transformer dimensions."""

    model_config = ConfigDict(extra="forbid", title="TransformerModel")

    transformer: TransformerShape


class HfConfigModel(BaseModel):
    """A pasted Hugging Face config.json."""

    model_config = ConfigDict(extra="forbid", title="HfConfigModel")

    hf_config: dict[str, Any] = Field(
        description="A Hugging Face config.json, as is (model_type decides how it is read; the "
        "other keys follow Hugging Face's config format for that family).",
        json_schema_extra={
            "required": ["model_type"],
            "properties": {"model_type": {"type": "string", "enum": list(SUPPORTED_FAMILIES)}},
        },
    )


class ParameterCountModel(BaseModel):
    """A bare parameter count; a Llama-style shape is then assumed and the answer says so."""

    model_config = ConfigDict(extra="forbid", title="ParameterCountModel")

    parameters: float = Field(
        gt=0,
        le=1e13,  # ten trillion: ten times the largest published models
        description="Parameter count (plain number, e.g. 7e9; at most 1e13).",
    )


def _model_kind(value: Any) -> str | None:
    """Which of the four descriptions a `model` object is: the one key it has."""
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    if not isinstance(value, dict):
        return None
    given = [k for k in MODEL_KINDS if value.get(k) is not None]
    return given[0] if len(given) == 1 else None


_ModelChoice = Annotated[
    Annotated[PresetModel, Tag("preset")]
    | Annotated[TransformerModel, Tag("transformer")]
    | Annotated[HfConfigModel, Tag("hf_config")]
    | Annotated[ParameterCountModel, Tag("parameters")],
    Discriminator(
        _model_kind,
        custom_error_type="model_kind",
        custom_error_message="give exactly one of preset, transformer, hf_config, parameters",
    ),
]


class ModelInput(RootModel[_ModelChoice]):
    """Exactly one of: a preset id, transformer dimensions, a pasted config.json, a parameter
    count (`oneOf` in the OpenAPI document; the request shape is the v1 contract's)."""

    @property
    def preset(self) -> str | None:
        return self.root.preset if isinstance(self.root, PresetModel) else None

    @property
    def transformer(self) -> TransformerShape | None:
        return self.root.transformer if isinstance(self.root, TransformerModel) else None

    @property
    def hf_config(self) -> dict[str, Any] | None:
        return self.root.hf_config if isinstance(self.root, HfConfigModel) else None

    @property
    def parameters(self) -> float | None:
        return self.root.parameters if isinstance(self.root, ParameterCountModel) else None


class HardwareInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu: str = Field(max_length=80, pattern=ID_PATTERN, description="Catalog GPU id.")
    count: int = Field(strict=True, default=1, ge=1, le=65_536, description="Number of GPUs.")
    price_per_gpu_hour_usd: float | None = Field(
        default=None, gt=0, le=1_000, description="Your own price; default the catalog's."
    )
    inter_node_gb_s: float | None = Field(
        default=None, gt=0, le=10_000, description="Network bandwidth per GPU between nodes, GB/s."
    )
    gpus_per_node: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="GPUs in one node (sharing the fast link); must divide count. Default 8 for "
        "datacenter GPUs, 4 for workstation and consumer cards.",
    )
    network_gbps_per_gpu: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="Scale-out network per GPU between nodes, Gb/s. Default 400 for Hopper/"
        "Blackwell/MI300-class, 200 for Ampere datacenter GPUs, else 100.",
    )
    power_limit_w: float | None = Field(
        default=None,
        gt=0,
        le=5_000,
        description="Board power cap, W (between a third of the board's TDP and the TDP); "
        "default the TDP.",
    )


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelInput = Field(
        description="The model: exactly one of preset, transformer, hf_config, parameters."
    )
    workload: Workload = Field(Workload(), description="The job: task, precision, batch, tokens.")
    hardware: HardwareInput = Field(description="Which GPU and how many.")
    grid_kg_co2_per_kwh: float | None = Field(
        default=None, ge=0, le=2, description="Grid carbon intensity; default the world average."
    )
    acquisition: Acquisition = Field(
        default=Acquisition.rent,
        description="rent: the cheapest instance offer for this count; buy: GPUs + hosts "
        "amortized plus electricity; own: electricity only.",
    )
    usd_per_kwh: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Electricity price (buy, own); default the catalog's.",
    )


EstimateResponse = Estimate


# The README's requests, as OpenAPI examples (Swagger's "Try it out" starts from these).
ESTIMATE_EXAMPLES: dict[str, Any] = {
    "pretrain_llama2_7b": {
        "summary": "Pre-train Llama 2 7B on 8 H100s",
        "value": {
            "model": {"preset": "llama-2-7b"},
            "workload": {"task": "pretrain", "precision": "bf16", "seq_len": 4096,
                         "micro_batch": 1, "global_batch": 1024, "tokens": 2e12,
                         "activation_checkpointing": "full", "parallelism": {"zero_stage": 1}},
            "hardware": {"gpu": "nvidia-h100-sxm", "count": 8},
        },
    },
    "qlora_on_a_4090": {
        "summary": "QLoRA of Llama 3 8B on one RTX 4090",
        "value": {
            "model": {"preset": "llama-3-8b"},
            "workload": {"task": "qlora", "tokens": 1e8},
            "hardware": {"gpu": "nvidia-geforce-rtx-4090", "count": 1},
        },
    },
    "parameter_count": {
        "summary": "A bare parameter count (the shape is assumed)",
        "value": {"model": {"parameters": 7e9}, "workload": {"task": "inference"},
                  "hardware": {"gpu": "nvidia-a100-sxm4-80gb", "count": 1}},
    },
}  # fmt: skip
