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
    serve = "serve"  # continuous batching under load (workload.serving)


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

    zero_stage: int = Field(
        strict=True, default=0, ge=0, le=3, description="0-3; FSDP full sharding = 3."
    )
    tensor: int = Field(
        strict=True, default=1, ge=1, le=1024, description="Tensor-parallel degree."
    )
    pipeline: int = Field(
        strict=True, default=1, ge=1, le=1024, description="Pipeline-parallel stages."
    )
    virtual_stages: int = Field(
        strict=True,
        default=1,
        ge=1,
        le=128,
        description="Model chunks per pipeline stage (interleaved 1F1B); the bubble shrinks by this factor.",
    )
    expert: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Expert-parallel degree (MoE): the experts are split over this many "
        "data-parallel ranks, which exchange tokens by all-to-all; must divide the data-parallel "
        "ranks and the experts.",
    )
    overlap_tensor_comm: bool = Field(
        strict=True,
        default=False,
        description="Tensor-parallel collectives overlapped with matmuls (Megatron --tp-comm-overlap).",
    )


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(strict=True, default=16, ge=1, le=65_536)
    targets: Literal["all-linear", "attention", "qv"] = Field(
        default="all-linear",
        description="Adapted layers: every linear layer (QLoRA paper), q/k/v/o, or q and v only.",
    )


class InferenceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(strict=True, default=512, ge=1, le=10_000_000)
    output_tokens: int = Field(strict=True, default=128, ge=0, le=10_000_000)
    batch: int = Field(
        strict=True, default=1, ge=1, le=1_000_000, description="Sequences decoded together."
    )
    weight_precision: Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"] | None = Field(
        default=None, description="Stored weight format; default the workload precision."
    )
    kv_cache_precision: Literal["fp32", "bf16", "fp16", "fp8", "int8"] | None = Field(
        default=None,
        description="KV cache format; default fp8 for fp8 inference (as TensorRT-LLM and vLLM "
        "offer), else 16-bit.",
    )


class ServingConfig(BaseModel):
    """A serving deployment under load (task "serve"): request lengths, the load (Poisson
    `request_rate` or closed-loop `concurrency`), the engine, formats and latency targets."""

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = Field(default=512, ge=1, le=1_000_000, description="Mean prompt length.")
    output_tokens: int = Field(
        default=256, ge=1, le=1_000_000, description="Mean output length (at least 1)."
    )
    distribution: Literal["fixed", "uniform", "sharegpt"] = Field(
        default="fixed",
        description="Length distribution around the means: fixed, uniform (x0.5-1.5), or "
        "ShareGPT-like (long-tailed log-normal).",
    )
    request_rate: float | None = Field(
        default=None, gt=0, le=1_000_000, description="Poisson arrivals, requests/s in total."
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Users each sending a request when "
        "their previous one finishes (with request_rate: the most in flight).",
    )
    engine: Literal["vllm", "sglang", "tensorrt-llm", "tgi"] = "vllm"
    weight_precision: Literal["bf16", "fp16", "fp8", "int8", "int4"] = Field(
        default="bf16", description="fp8: W8A8 on GPUs with fp8; int8/int4: weight-only."
    )
    kv_cache_precision: Literal["bf16", "fp16", "fp8"] = "bf16"
    ttft_p90_s: float = Field(
        default=1.0, gt=0, le=3_600, description="Target: 90th percentile time to first token."
    )
    tpot_p99_s: float = Field(
        default=0.1, gt=0, le=60, description="Target: 99th percentile time per output token."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    num_requests: int = Field(
        default=1000, ge=1, le=20_000, description="Requests simulated per replica."
    )
    replicas: int | None = Field(
        default=None,
        ge=1,
        le=65_536,
        description="Copies of the model (each a tensor-parallel group); default "
        "hardware.count / parallelism.tensor.",
    )
    curve: bool = Field(
        default=False,
        description="Also simulate the throughput-latency curve (concurrency 1, 2, 4, ...).",
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
    seq_len: int = Field(
        strict=True, default=2048, ge=1, le=10_000_000, description="Tokens per sequence."
    )
    micro_batch: int = Field(
        strict=True, default=1, ge=1, le=1_000_000, description="Sequences per GPU step."
    )
    global_batch: int | None = Field(
        strict=True,
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
        strict=True, default=True, description="Fused attention that never stores the s x s scores."
    )
    dropout: float = Field(
        default=0.0,
        ge=0.0,
        lt=1.0,
        description="Dropout probability (BERT-style fine-tuning uses 0.1; LLM pre-training 0): "
        "dropout keeps a mask per dropped tensor for the backward pass.",
    )
    fused_kernels: bool = Field(
        strict=True,
        default=False,
        description="Normalization, activation and rotary steps run as fused kernels (Megatron/"
        "NeMo, TensorRT-LLM, vLLM, torch.compile); false = one PyTorch op each (eager).",
    )
    parallelism: Parallelism = Parallelism()
    master_weights: bool | None = Field(
        strict=True,
        default=None,
        description="Keep an fp32 master copy of 16-bit weights (default true; false = pure "
        "16-bit training, optimizer states in the weight format).",
    )
    optimizer_in_backward: bool = Field(
        strict=True,
        default=False,
        description="Apply the optimizer per parameter during the backward pass, so the full "
        "gradient buffer never exists (torchtune's optimizer_in_bwd).",
    )
    lora: LoraConfig | None = None
    inference: InferenceConfig | None = None
    serving: ServingConfig | None = None
    attention: Literal["flash", "sdpa", "eager"] | None = Field(
        default=None,
        description="Attention implementation: flash (FlashAttention-2/3, fp16/bf16, Ampere or "
        "newer), sdpa (PyTorch scaled_dot_product_attention: a fused memory-efficient kernel), "
        "eager (scores and probabilities stored, Hugging Face 'eager'). Default: "
        "flash_attention's value (fused).",
    )
    runtime: Literal["compiled", "eager"] | None = Field(
        default=None,
        description="compiled: fused kernels replayed without per-op Python dispatch (Megatron/"
        "NeMo, torchtitan with torch.compile, MaxText, TensorRT-LLM, vLLM with CUDA graphs); "
        "eager: one PyTorch op at a time (Hugging Face Trainer, plain generate loops), where "
        "per-kernel dispatch bounds small ops. Default: compiled if fused_kernels, else eager.",
    )
    reduce_dtype: Literal["fp32", "bf16", "fp16"] | None = Field(
        default=None,
        description="Gradient reduction format across data-parallel ranks; default fp32 for "
        "mixed precision (Megatron-LM, PyTorch AMP, torchtitan FSDP), else the weight format.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        if self.global_batch is not None and self.global_batch < self.micro_batch:
            raise ValueError(
                f"global_batch ({self.global_batch}) must be >= micro_batch ({self.micro_batch})"
            )
        if (self.samples is None) != (self.epochs is None) and self.samples is None:
            raise ValueError("epochs needs samples (the dataset size)")
        if self.task is Task.qlora and "activation_checkpointing" not in self.model_fields_set:
            # QLoRA as PEFT runs it: prepare_model_for_kbit_training turns gradient
            # checkpointing on unless told otherwise (use_gradient_checkpointing=True).
            self.activation_checkpointing = Checkpointing.full
        return self

    @property
    def fused_attention(self) -> bool:
        """Attention that never stores the s x s scores (flash or sdpa's fused kernels)."""
        if self.attention is not None:
            return self.attention != "eager"
        return self.flash_attention

    @property
    def uses_fused_kernels(self) -> bool:
        """Norms, activations and rotary steps fused (a compiled runtime implies it)."""
        return self.fused_kernels or self.runtime == "compiled"

    @property
    def runs_eager(self) -> bool:
        """Every op dispatched from Python one at a time."""
        return self.runtime == "eager" or (self.runtime is None and not self.fused_kernels)

    @property
    def mixed_precision(self) -> bool:
        return self.precision not in (Precision.fp32, Precision.tf32)

    @property
    def keeps_master_weights(self) -> bool:
        return self.mixed_precision and self.master_weights is not False

    @property
    def is_training(self) -> bool:
        return self.task not in (Task.inference, Task.serve)

    @property
    def is_adapter(self) -> bool:
        return self.task in (Task.lora, Task.qlora)

    @property
    def lora_config(self) -> LoraConfig:
        return self.lora or LoraConfig()

    @property
    def serving_config(self) -> ServingConfig:
        return self.serving or ServingConfig()

    @property
    def inference_config(self) -> InferenceConfig:
        return self.inference or InferenceConfig()
