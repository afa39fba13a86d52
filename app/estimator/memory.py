"""Memory per GPU: weights, gradients, optimizer states, activations, KV cache, overhead.

Each function returns bytes on one GPU. Sharding follows ZeRO (Rajbhandari et al. 2020, "ZeRO:
Memory Optimizations Toward Training Trillion Parameter Models", sec. 5: stage 1 shards optimizer
states, 2 also gradients, 3 also parameters, over the data-parallel ranks; FSDP full sharding is
stage 3), split first by tensor and pipeline parallelism (Narayanan et al. 2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.estimator.model import (
    Architecture,
    TransformerShape,
    block_params,
    embedding_params,
    expert_parameter_count,
    head_params,
    linear_layer_shapes,
    parameter_count,
    sequence_tokens,
)
from app.estimator.units import GIB, bytes_per_element
from app.estimator.workload import Checkpointing, Optimizer, Precision, Task, Workload

# QLoRA (Dettmers et al. 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", sec. 3): NF4
# weights in blocks of 64 with double-quantized constants cost 4 + 0.127 bits per parameter.
NF4_BITS_PER_PARAM = 4.0 + 8.0 / 64 + 32.0 / (64 * 256)
# bitsandbytes 8-bit optimizers (Dettmers et al. 2022, "8-bit Optimizers via Block-wise
# Quantization", sec. 2): one byte per state, one fp32 absmax per block of 2048 values.
ADAM_8BIT_BYTES_PER_STATE = 1.0 + 4.0 / 2048
# CUDA context, kernels and library workspaces held by a framework process before any tensor:
# Hugging Face, "Model training anatomy" (transformers docs), measures 1,343 MB on a V100 after
# creating the first CUDA tensor. Taken as the per-GPU runtime floor for every platform.
RUNTIME_CONTEXT_BYTES = 1343 * 2**20
# NCCL communicator buffers per GPU when more than one GPU talks. NCCL_BUFFSIZE defaults to
# 4 MiB per channel, peer and direction (NCCL environment-variable documentation); an assumed
# 32 channels x 2 ring peers x 2 directions x 4 MiB = 0.5 GiB. An assumption, not a measurement.
NCCL_BUFFERS_BYTES = 0.5 * GIB
# The PyTorch caching allocator rounds and splits blocks, so reserved memory exceeds what is
# allocated (PyTorch docs, "CUDA semantics: memory management", describe the mechanism). The
# 5% is an assumption, not a sourced figure; the validation scores memory with it.
ALLOCATOR_FRAGMENTATION = 0.05


@dataclass(frozen=True)
class Layout:
    """How `count` GPUs are arranged: data x tensor x pipeline parallel."""

    count: int
    tensor: int
    pipeline: int
    zero_stage: int
    expert: int = 1  # expert-parallel degree, within the data-parallel ranks

    @property
    def data(self) -> int:
        return self.count // (self.tensor * self.pipeline)


def activation_bytes_per_element(precision: Precision) -> float:
    """Activations are kept in the compute format; fp8 training keeps bf16 activations."""
    return 4.0 if precision in (Precision.fp32, Precision.tf32) else 2.0


def weight_bytes_per_param(workload: Workload) -> float:
    """Bytes per weight held for compute (mixed precision keeps a 16-bit working copy)."""
    if workload.task is Task.inference:
        fmt = workload.inference_config.weight_precision or workload.precision.value
        # 4-bit weights carry block-wise quantization constants, as NF4 does (QLoRA, sec. 3).
        return NF4_BITS_PER_PARAM / 8 if fmt == "int4" else bytes_per_element(fmt)
    return 4.0 if workload.precision in (Precision.fp32, Precision.tf32) else 2.0


def stage_parameter_count(shape: TransformerShape, pipeline: int) -> float:
    """Parameters on the heaviest pipeline stage (blocks split evenly; embedding on the first
    stage, head on the last; a tied embedding is duplicated on the last stage, as Megatron-LM
    does)."""
    total = float(parameter_count(shape))
    if pipeline == 1:
        return total
    if shape.architecture is Architecture.encoder_decoder:
        blocks = total - embedding_params(shape) - head_params(shape)
        return blocks / pipeline + embedding_params(shape)
    per_stage_blocks = math.ceil(shape.layers / pipeline) * block_params(shape)
    last_head = head_params(shape) + (
        shape.vocab_size * shape.hidden_size if shape.tied_embeddings and shape.has_lm_head else 0
    )
    return per_stage_blocks + max(embedding_params(shape), last_head)


def lora_parameter_count(shape: TransformerShape, rank: int, targets: str) -> int:
    """Adapter parameters: r x (in + out) for each adapted linear layer (Hu et al. 2021, LoRA)."""
    wanted = {
        "qv": {"q_proj", "v_proj"},
        "attention": {"q_proj", "k_proj", "v_proj", "o_proj"},
    }.get(targets)
    total = 0
    for name, fan_in, fan_out, count in linear_layer_shapes(shape):
        if wanted is None or name in wanted:
            total += rank * (fan_in + fan_out) * count
    return total


def quantizable_parameter_count(shape: TransformerShape) -> int:
    """Parameters in block linear layers (what bitsandbytes quantizes; embeddings, norms and the
    LM head stay in 16 bits)."""
    return sum(fan_in * fan_out * count for _, fan_in, fan_out, count in linear_layer_shapes(shape))


@dataclass(frozen=True)
class ParameterMemory:
    weights: float
    gradients: float
    optimizer_states: float
    trainable_parameters: float


def optimizer_bytes_per_param(workload: Workload, *, adapters: bool = False) -> float:
    """Optimizer state bytes per trainable parameter on the GPU, including the fp32 master copy
    that mixed-precision training keeps (ZeRO paper, sec. 3.1: 12 bytes for Adam = master + m +
    v). Pure 16-bit training keeps no master and holds the moments in the weight format.
    Adapters (LoRA) train in fp32 and keep fp32 moments."""
    optimizer = workload.optimizer
    if optimizer is Optimizer.adamw_8bit_paged:
        return 0.0  # paged to host memory on demand (bitsandbytes paged optimizers)
    if adapters:
        master, moment = 0.0, 4.0
    else:
        master = 4.0 if workload.keeps_master_weights else 0.0
        moment = 4.0 if (workload.keeps_master_weights or not workload.mixed_precision) else 2.0
    states = {
        Optimizer.adamw: 2 * moment,
        Optimizer.adamw_8bit: 2 * ADAM_8BIT_BYTES_PER_STATE,
        Optimizer.sgd: moment,  # momentum
        Optimizer.adafactor: 0.0,  # factored second moments are counted per matrix below
    }[optimizer]
    return master + states


def _adafactor_state_bytes(shape: TransformerShape) -> float:
    """Adafactor (Shazeer & Stern 2018, sec. 3) keeps fp32 row and column second-moment vectors
    per weight matrix and no first moment (its default); other parameters keep a full one."""
    embedding_matrices = 1 + (0 if shape.tied_embeddings or not shape.has_lm_head else 1)
    factored = sum(
        (fan_in + fan_out) * count for _, fan_in, fan_out, count in linear_layer_shapes(shape)
    )
    factored += embedding_matrices * (shape.vocab_size + shape.hidden_size)
    in_matrices = (
        quantizable_parameter_count(shape)
        + embedding_matrices * shape.vocab_size * shape.hidden_size
    )
    vectors = max(0, parameter_count(shape) - in_matrices)
    return 4.0 * (factored + vectors)


def parameter_memory(
    shape: TransformerShape, workload: Workload, layout: Layout
) -> ParameterMemory:
    """Weights, gradients and optimizer states on one GPU."""
    model_split = layout.tensor
    stage_params = stage_parameter_count(shape, layout.pipeline)
    share = stage_params / (parameter_count(shape) * model_split)  # this GPU's share of weights
    if layout.expert > 1:
        # Expert parallelism: each GPU keeps experts / ep of the expert MLPs (GShard, Lepikhin
        # et al. 2020), so its share shrinks by the experts it does not hold.
        experts_dropped = expert_parameter_count(shape) * (1 - 1 / layout.expert)
        share *= 1 - experts_dropped / parameter_count(shape)
    dp = layout.data
    zero = layout.zero_stage
    total_params = float(parameter_count(shape))
    w_bytes = weight_bytes_per_param(workload)

    if workload.task is Task.inference:
        weights = total_params * w_bytes * share
        return ParameterMemory(weights, 0.0, 0.0, 0.0)

    if workload.is_adapter:
        lora = workload.lora_config
        adapters = float(lora_parameter_count(shape, lora.rank, lora.targets))
        if workload.task is Task.qlora:
            quantized = float(quantizable_parameter_count(shape))
            base = quantized * NF4_BITS_PER_PARAM / 8 + (total_params - quantized) * 2.0
        else:
            base = total_params * w_bytes
        # Adapters train in fp32 (PEFT's default upcast), with their own optimizer states.
        weights = (base + adapters * 4.0) * share
        gradients = adapters * 4.0 * share
        states = adapters * optimizer_bytes_per_param(workload, adapters=True) * share
        if workload.optimizer is Optimizer.adafactor:
            states = adapters * 4.0 * share
        if zero >= 1:
            states /= dp
        if zero >= 2:
            gradients /= dp
        if zero >= 3:  # FSDP shards the frozen base too
            weights /= dp
        return ParameterMemory(weights, gradients, states, adapters)

    weights = total_params * w_bytes * share
    gradients = total_params * w_bytes * share
    if workload.optimizer_in_backward:
        # Each gradient is applied and freed as soon as it is computed: the largest single
        # tensor's gradient (the embedding or LM head) is what remains at once.
        gradients = shape.vocab_size * shape.hidden_size * w_bytes / layout.tensor
    states = total_params * optimizer_bytes_per_param(workload) * share
    if workload.optimizer is Optimizer.adafactor:
        states += _adafactor_state_bytes(shape) * share
    if zero >= 1:
        states /= dp
    if zero >= 2:
        gradients /= dp
    if zero >= 3:
        weights /= dp
    return ParameterMemory(weights, gradients, states, total_params)


def block_activation_bytes_per_token(
    shape: TransformerShape,
    workload: Workload,
    *,
    seq_len: int,
    tensor_parallel: int = 1,
    cross_attention: bool = False,
) -> float:
    """Bytes one block stores per token for the backward pass, with no recomputation.

    Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
    sec. 4.1, eq. 1 gives 34 s b h + 5 a s^2 b for a GPT block (16-bit activations, dropout,
    4h MLP); this generalizes each of its terms to grouped-query attention, gated MLPs, MoE and
    flash attention, with dropout masks only when dropout is on (LLM pre-training uses none):
    norm inputs 2 x 2h; attention: QKV input 2h, Q 2q, K and V 2 x 2kv, output-projection
    input 2q, and either the softmax output 2 a s (unfused) or its log-sum-exp 4a (flash);
    MLP: input 2h, gate/up outputs and activation output 3 x 2f (gated) or 2 x 2f (plain), per
    active expert. With tensor parallelism every term is split over t GPUs (sequence parallel).
    """
    a = activation_bytes_per_element(workload.precision)
    h, f = shape.hidden_size, shape.ffn
    norms = (2 + shape.extra_norms_per_layer + (1 if cross_attention else 0)) * h * a
    attention = (h + 2 * shape.q_dim + 2 * shape.kv_dim) * a
    if workload.fused_attention:
        attention += shape.heads * 4.0
    else:
        attention += shape.heads * seq_len * a
    if workload.dropout > 0:
        # Korthikanti et al.'s dropout terms: a 1-byte mask after attention and after the MLP,
        # and on the attention probabilities (mask + dropped copy) unless the kernel is fused.
        attention += h * 1.0
        if not workload.fused_attention:
            attention += shape.heads * seq_len * (1.0 + a)
    if cross_attention:
        attention *= 2
    mlp_width = (3 if shape.gated_ffn else 2) * f
    mlp = (h + mlp_width) * a * shape.experts_per_token
    if workload.dropout > 0:
        mlp += h * 1.0
    if shape.is_moe:
        mlp += shape.experts * 4.0  # router logits, fp32
    return (norms + attention + mlp) / tensor_parallel


def activation_memory(shape: TransformerShape, workload: Workload, layout: Layout) -> float:
    """Activations stored on one GPU during a training step (the first pipeline stage, which
    holds the most: with the 1F1B schedule it keeps `pipeline` micro-batches in flight, i.e. the
    activations of all layers for one micro-batch; Korthikanti et al. 2022, sec. 4.2.3)."""
    a = activation_bytes_per_element(workload.precision)
    t = layout.tensor
    seq = sequence_tokens(shape, workload.seq_len)
    tokens = workload.micro_batch * seq
    per_token = block_activation_bytes_per_token(shape, workload, seq_len=seq, tensor_parallel=t)
    layers = shape.total_layers
    if shape.architecture is Architecture.encoder_decoder:
        cross = block_activation_bytes_per_token(
            shape, workload, seq_len=seq, tensor_parallel=t, cross_attention=True
        )
        block_total = (shape.encoder_layers or shape.layers) * per_token + shape.layers * cross
    else:
        block_total = layers * per_token
    layers_held = float(layers)
    if layout.pipeline > 1:
        micro_batches = _micro_batches(workload, layout)
        in_flight = min(micro_batches, layout.pipeline)
        layers_held = layers * in_flight / layout.pipeline
        block_total *= in_flight / layout.pipeline

    checkpointing = workload.activation_checkpointing
    if checkpointing is Checkpointing.full:
        # Keep each block's input; recompute one block at a time in the backward pass.
        stored = layers_held * tokens * shape.hidden_size * a / t
        stored += tokens * per_token  # the block being recomputed
    elif checkpointing is Checkpointing.selective and not workload.fused_attention:
        # Drop the s x s softmax output and recompute it (Korthikanti et al. 2022, sec. 4.1).
        stored = tokens * (block_total - layers_held * shape.heads * seq * a / t)
    else:
        stored = tokens * block_total
    embeddings = tokens * shape.hidden_size * a / t
    # The output layer's logits in fp32 for the cross-entropy (4 s b v bytes, Korthikanti et
    # al. 2022, sec. 4.3), on the last pipeline stage.
    logits = tokens * shape.vocab_size * 4.0 / t if shape.has_lm_head else 0.0
    return stored + embeddings + (logits if layout.pipeline == 1 else 0.0)


def _micro_batches(workload: Workload, layout: Layout) -> int:
    if workload.global_batch is None:
        return 1
    return max(1, workload.global_batch // (workload.micro_batch * layout.data))


def kv_bytes_per_element(workload: Workload) -> float:
    """Bytes per cached key/value element."""
    inference = workload.inference_config
    fmt = inference.kv_cache_precision or ("fp8" if workload.precision is Precision.fp8 else None)
    if fmt is None:
        return activation_bytes_per_element(workload.precision)
    return bytes_per_element(fmt)


def kv_cache_bytes(shape: TransformerShape, workload: Workload, layout: Layout) -> float:
    """Keys and values of every attended token: 2 x layers x kv_heads x head_dim x bytes per
    token (grouped-query attention stores kv_heads, not heads; Ainslie et al. 2023, "GQA")."""
    if workload.task is not Task.inference:
        return 0.0
    inference = workload.inference_config
    a = kv_bytes_per_element(workload)
    context = inference.prompt_tokens + inference.output_tokens
    per_token = 2 * shape.decoder_layers * shape.kv_dim * a
    return per_token * context * inference.batch / (layout.tensor * layout.pipeline)


def inference_activation_bytes(
    shape: TransformerShape, workload: Workload, layout: Layout
) -> float:
    """Transient working set of the prefill, the largest step: one block's intermediates for
    the whole prompt (the residual stream, QKV and the MLP's widest output) and the logits of
    the last position."""
    inference = workload.inference_config
    a = activation_bytes_per_element(workload.precision)
    tokens = inference.batch * inference.prompt_tokens
    up_width = (2 if shape.gated_ffn else 1) * shape.ffn * shape.experts_per_token
    widest = max(shape.q_dim + 2 * shape.kv_dim, up_width) / layout.tensor
    scores = (
        0.0
        if workload.fused_attention
        else shape.heads * inference.prompt_tokens * a / layout.tensor
    )
    working = tokens * ((2 * shape.hidden_size + widest) * a + scores)
    logits = inference.batch * shape.vocab_size * 4.0
    return working + logits


def overhead_bytes(tensor_bytes: float, count: int) -> float:
    """Runtime context, communicator buffers and allocator fragmentation on one GPU."""
    return (
        RUNTIME_CONTEXT_BYTES
        + (NCCL_BUFFERS_BYTES if count > 1 else 0.0)
        + (ALLOCATOR_FRAGMENTATION * tensor_bytes)
    )


@dataclass(frozen=True)
class MemoryBreakdown:
    weights: float
    gradients: float
    optimizer_states: float
    activations: float
    kv_cache: float
    overhead: float
    trainable_parameters: float

    @property
    def total(self) -> float:
        return (
            self.weights
            + self.gradients
            + self.optimizer_states
            + self.activations
            + self.kv_cache
            + self.overhead
        )


def memory_per_gpu(shape: TransformerShape, workload: Workload, layout: Layout) -> MemoryBreakdown:
    """Every component of one GPU's memory for this job (bytes)."""
    params = parameter_memory(shape, workload, layout)
    if workload.task is Task.inference:
        activations = inference_activation_bytes(shape, workload, layout)
    else:
        activations = activation_memory(shape, workload, layout)
    kv = kv_cache_bytes(shape, workload, layout)
    tensors = params.weights + params.gradients + params.optimizer_states + activations + kv
    return MemoryBreakdown(
        weights=params.weights,
        gradients=params.gradients,
        optimizer_states=params.optimizer_states,
        activations=activations,
        kv_cache=kv,
        overhead=overhead_bytes(tensors, layout.count),
        trainable_parameters=params.trainable_parameters,
    )
