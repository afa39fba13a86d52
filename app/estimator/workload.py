"""What the user wants to run: task, precision, batch, parallelism (the API's `workload`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Task(StrEnum):
    pretrain = "pretrain"
    finetune = "finetune"
    lora = "lora"
    qlora = "qlora"
    inference = "inference"


class Precision(StrEnum):
    fp32 = "fp32"
    tf32 = "tf32"
    bf16 = "bf16"
    fp16 = "fp16"
    fp8 = "fp8"


class Optimizer(StrEnum):
    adamw = "adamw"
    adamw_8bit = "adamw-8bit"
    adamw_8bit_paged = "adamw-8bit-paged"  # bitsandbytes paged: states live in host-backed memory
    sgd = "sgd"
    adafactor = "adafactor"


class Checkpointing(StrEnum):
    none = "none"
    selective = "selective"
    full = "full"


class Parallelism(BaseModel):
    """How the GPUs split the job: ZeRO/FSDP stage over data-parallel ranks, tensor, pipeline."""

    model_config = ConfigDict(extra="forbid")

    zero_stage: int = Field(default=0, ge=0, le=3, description="0-3; FSDP full sharding = 3.")
    tensor: int = Field(default=1, ge=1, le=1024, description="Tensor-parallel degree.")
    pipeline: int = Field(default=1, ge=1, le=1024, description="Pipeline-parallel stages.")
    virtual_stages: int = Field(
        default=1,
        ge=1,
        le=128,
        description="Model chunks per pipeline stage (interleaved 1F1B); the bubble shrinks by this factor.",
    )
    overlap_tensor_comm: bool = Field(
        default=False,
        description="Tensor-parallel collectives overlapped with matmuls (Megatron --tp-comm-overlap).",
    )


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=16, ge=1, le=65_536)
    targets: Literal["all-linear", "attention", "qv"] = Field(
        default="all-linear",
        description="Adapted layers: every linear layer (QLoRA paper), q/k/v/o, or q and v only.",
    )


class InferenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(default=512, ge=1, le=10_000_000)
    output_tokens: int = Field(default=128, ge=0, le=10_000_000)
    batch: int = Field(default=1, ge=1, le=1_000_000, description="Sequences decoded together.")
    weight_precision: Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"] | None = Field(
        default=None, description="Stored weight format; default the workload precision."
    )
    kv_cache_precision: Literal["fp32", "bf16", "fp16", "fp8", "int8"] | None = Field(
        default=None,
        description="KV cache format; default fp8 for fp8 inference (as TensorRT-LLM and vLLM "
        "offer), else 16-bit.",
    )


class Workload(BaseModel):
    """A training or inference job. Give `tokens` for language models, or `samples` x `epochs`."""

    # "epochs needs samples", stated for OpenAPI readers and request generators.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"required": ["epochs"], "properties": {"epochs": {"type": "number"}}},
            "then": {"required": ["samples"], "properties": {"samples": {"type": "number"}}},
        },
    )

    task: Task = Task.pretrain
    precision: Precision = Precision.bf16
    seq_len: int = Field(default=2048, ge=1, le=10_000_000, description="Tokens per sequence.")
    micro_batch: int = Field(default=1, ge=1, le=1_000_000, description="Sequences per GPU step.")
    global_batch: int | None = Field(
        default=None,
        ge=1,
        le=100_000_000,
        description="Sequences per optimizer step (default micro_batch x data-parallel ranks); "
        "at least micro_batch and a multiple of micro_batch x data-parallel ranks.",
    )
    tokens: float | None = Field(default=None, gt=0, le=1e17, description="Training tokens.")
    samples: float | None = Field(default=None, gt=0, le=1e15)
    epochs: float | None = Field(default=None, gt=0, le=1e6)
    optimizer: Optimizer = Optimizer.adamw
    activation_checkpointing: Checkpointing = Checkpointing.none
    flash_attention: bool = Field(
        default=True, description="Fused attention that never stores the s x s scores."
    )
    dropout: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Dropout probability (BERT-style fine-tuning uses 0.1; LLM pre-training 0): "
        "dropout keeps a mask per dropped tensor for the backward pass.",
    )
    fused_kernels: bool = Field(
        default=False,
        description="Normalization, activation and rotary steps run as fused kernels (Megatron/"
        "NeMo, TensorRT-LLM, vLLM, torch.compile); false = one PyTorch op each (eager).",
    )
    parallelism: Parallelism = Parallelism()
    master_weights: bool | None = Field(
        default=None,
        description="Keep an fp32 master copy of 16-bit weights (default true; false = pure "
        "16-bit training, optimizer states in the weight format).",
    )
    optimizer_in_backward: bool = Field(
        default=False,
        description="Apply the optimizer per parameter during the backward pass, so the full "
        "gradient buffer never exists (torchtune's optimizer_in_bwd).",
    )
    lora: LoraConfig | None = None
    inference: InferenceConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        if self.global_batch is not None and self.global_batch < self.micro_batch:
            raise ValueError(
                f"global_batch ({self.global_batch}) must be >= micro_batch ({self.micro_batch})"
            )
        if (self.samples is None) != (self.epochs is None) and self.samples is None:
            raise ValueError("epochs needs samples (the dataset size)")
        return self

    @property
    def mixed_precision(self) -> bool:
        return self.precision not in (Precision.fp32, Precision.tf32)

    @property
    def keeps_master_weights(self) -> bool:
        return self.mixed_precision and self.master_weights is not False

    @property
    def is_training(self) -> bool:
        return self.task is not Task.inference

    @property
    def is_adapter(self) -> bool:
        return self.task in (Task.lora, Task.qlora)

    @property
    def lora_config(self) -> LoraConfig:
        return self.lora or LoraConfig()

    @property
    def inference_config(self) -> InferenceConfig:
        return self.inference or InferenceConfig()
