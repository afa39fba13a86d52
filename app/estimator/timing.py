"""Time: per-op roofline, collectives, pipeline bubble, optimizer step; prefill and decode.

Every op takes `overhead + max(FLOPs / achievable FLOP/s, bytes / achievable bandwidth)` (a
roofline, Williams, Waterman & Patterson 2009, "Roofline: an insightful visual performance
model", with a fixed per-kernel time so that small ops fall short of peak). Collectives use the
ring algorithm's traffic, 2 (n-1)/n x size per GPU for an all-reduce (Patarasuk & Yuan 2009,
"Bandwidth optimal all-reduce algorithms for clusters of workstations"), at the link's
achievable bus bandwidth.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.estimator.flops import SELECTIVE_RECOMPUTE, Op, OpKind, model_ops
from app.estimator.hardware import GPUS_PER_NODE, Efficiency, GpuSpec
from app.estimator.memory import (
    Layout,
    activation_bytes_per_element,
    kv_bytes_per_element,
    quantizable_parameter_count,
    stage_parameter_count,
    weight_bytes_per_param,
)
from app.estimator.model import Architecture, TransformerShape
from app.estimator.units import GB
from app.estimator.workload import Checkpointing, Optimizer, Precision, Task, Workload

# Fixed start-up time of one collective (NCCL's per-call latency is tens of microseconds for
# small messages on NVLink: nccl-tests all_reduce_perf at 8 B reports ~ 10-30 us).
COLLECTIVE_LATENCY_S = 20e-6
# Collectives run as kernels on the GPU's own SMs; while they overlap compute, the compute gets
# fewer SMs. DeepSeek-V3 (DeepSeek-AI 2024, technical report, sec. 3.2.2) dedicates 20 of an
# H800's 132 SMs to communication: compute overlapped with communication is taken to slow by
# that share.
COMM_SM_SHARE = 20 / 132
# FlashAttention's backward pass does 2.5x the matrix FLOPs of its forward (it recomputes the
# scores; Dao 2023, "FlashAttention-2", sec. 3.1.2: 5 matmuls vs 2).
ATTENTION_BACKWARD_FACTOR = 2.5


@dataclass(frozen=True)
class OpTime:
    seconds: float
    compute_s: float
    memory_s: float


# FP8 training (Micikevicius et al. 2022, "FP8 Formats for Deep Learning"; NVIDIA Transformer
# Engine) runs the linear layers' matmuls in fp8 but keeps attention, the LM head and the
# softmax/loss in 16 bits. Each fp8 matmul input is first scaled and cast: read 2 bytes and
# write 1 per element (the amax reduction is fused into the cast).
FP8_CAST_BYTES_PER_ELEMENT = 3.0
FP8_16BIT_OPS = ("attention", "cross_attention", "lm_head", "loss")


def _op_precision(op: Op, precision: str) -> str:
    if precision == "fp8" and op.name.split(".")[0] in FP8_16BIT_OPS:
        return "bf16"
    return precision


def op_time(op: Op, gpu: GpuSpec, eff: Efficiency, precision: str) -> OpTime:
    """Time of one execution of `op` (a roofline with a fixed kernel overhead).

    Causal attention kernels skip the masked half of the score matrix (Dao 2023,
    "FlashAttention-2", sec. 3.1.1), so their work is half of the counted FLOPs.
    """
    peak, _ = gpu.peak_flops(_op_precision(op, precision))
    memory_bytes = op.bytes
    if op.kind is OpKind.matmul:
        compute = op.flops / (peak * eff.matmul_fraction)
        if precision == "fp8" and op.weight_elements and _op_precision(op, precision) == "fp8":
            memory_bytes += (op.m * op.k + op.weight_elements) * FP8_CAST_BYTES_PER_ELEMENT
    elif op.kind is OpKind.attention:
        work = op.flops / 2 if op.causal else op.flops
        compute = work / (peak * eff.attention_fraction)
    else:
        compute = 0.0
    memory = memory_bytes / (gpu.bandwidth_bytes_s * eff.bandwidth_fraction)
    fixed = eff.overhead_s
    if op.kind is OpKind.elementwise and eff.memory_op_overhead_s is not None:
        fixed = eff.memory_op_overhead_s
    return OpTime(fixed + max(compute, memory), compute, memory)


@dataclass
class PhaseTime:
    """Seconds split by what bounds them (for the bottleneck)."""

    compute_s: float = 0.0
    memory_s: float = 0.0
    communication_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.compute_s + self.memory_s + self.communication_s

    def add_op(self, t: OpTime, repeat: float = 1.0) -> None:
        if t.compute_s >= t.memory_s:
            self.compute_s += t.seconds * repeat
        else:
            self.memory_s += t.seconds * repeat

    def scaled(self, factor: float) -> PhaseTime:
        return PhaseTime(
            self.compute_s * factor, self.memory_s * factor, self.communication_s * factor
        )

    def plus(self, other: PhaseTime) -> PhaseTime:
        return PhaseTime(
            self.compute_s + other.compute_s,
            self.memory_s + other.memory_s,
            self.communication_s + other.communication_s,
        )


def allreduce_seconds(size_bytes: float, ranks: int, link_gb_s: float, fraction: float) -> float:
    """Ring all-reduce of `size_bytes` over `ranks` GPUs on links of `link_gb_s` per direction."""
    if ranks <= 1 or size_bytes <= 0:
        return 0.0
    traffic = 2.0 * (ranks - 1) / ranks * size_bytes
    return COLLECTIVE_LATENCY_S + traffic / (link_gb_s * GB * fraction)


def _link_for(ranks_span: int, gpu: GpuSpec) -> float:
    """Per-direction bandwidth of the slowest link a group spanning `ranks_span` GPUs uses."""
    if ranks_span <= GPUS_PER_NODE:
        return gpu.intra_node_link_gb_s(ranks_span)
    return gpu.inter_node_link_gb_s


@dataclass(frozen=True)
class TrainingTime:
    step_s: float
    breakdown: PhaseTime
    micro_batches: int
    global_batch: int
    forward_s: float
    backward_s: float
    recompute_s: float
    tensor_comm_s: float
    data_comm_exposed_s: float
    pipeline_bubble_s: float
    optimizer_s: float
    efficiency_notes: tuple[str, ...] = ()


def _ops_for_training(shape: TransformerShape, workload: Workload, layout: Layout) -> list[Op]:
    act = activation_bytes_per_element(workload.precision)
    seq = (
        shape.patches + 1
        if shape.architecture is Architecture.vision_transformer
        else workload.seq_len
    )
    return model_ops(
        shape,
        batch=workload.micro_batch,
        seq_len=seq,
        act_bytes=act,
        weight_bytes=weight_bytes_per_param(workload),
        flash=workload.flash_attention,
        tensor_parallel=layout.tensor,
        fused=workload.fused_kernels,
    )


def training_step_time(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec, eff: Efficiency
) -> TrainingTime:
    """One optimizer step on the slowest GPU: micro-batches through the pipeline, gradient
    synchronization, optimizer update."""
    precision = workload.precision.value
    ops = _ops_for_training(shape, workload, layout)
    pp = layout.pipeline
    adapter = workload.is_adapter

    forward = PhaseTime()
    backward = PhaseTime()
    recompute = PhaseTime()
    for op in ops:
        t = op_time(op, gpu, eff, precision)
        share = op.count / pp if op.layer_op else op.count
        forward.add_op(t, share)
        if op.kind is OpKind.attention:
            bwd_factor = ATTENTION_BACKWARD_FACTOR
        elif op.kind is OpKind.matmul and adapter and op.weight_elements:
            bwd_factor = 1.0  # frozen base weights: input gradients only (adapters are tiny)
        else:
            bwd_factor = 2.0
        backward.add_op(t, share * bwd_factor)
        if op.layer_op and (
            workload.activation_checkpointing is Checkpointing.full
            or (
                workload.activation_checkpointing is Checkpointing.selective
                and op.name.split(".")[0] in SELECTIVE_RECOMPUTE
            )
        ):
            recompute.add_op(t, share)

    if workload.task is Task.qlora:
        # bitsandbytes dequantizes each NF4 weight to bf16 before every matmul (forward and
        # backward): read 0.52 B, write 2 B per parameter.
        quantized = quantizable_parameter_count(shape) / (layout.tensor * pp)
        dequant = quantized * (0.52 + 2.0) / (gpu.bandwidth_bytes_s * eff.bandwidth_fraction)
        forward.memory_s += dequant
        backward.memory_s += dequant

    a = activation_bytes_per_element(workload.precision)
    tokens = workload.micro_batch * workload.seq_len
    tensor_comm = 0.0
    if layout.tensor > 1:
        # Megatron-LM: two all-reduces (or all-gather + reduce-scatter with sequence parallelism,
        # the same traffic) per block in the forward pass and two in the backward.
        per_collective = allreduce_seconds(
            tokens * shape.hidden_size * a,
            layout.tensor,
            _link_for(layout.tensor, gpu),
            eff.allreduce_fraction,
        )
        collectives = 4 + (2 if workload.activation_checkpointing is Checkpointing.full else 0)
        tensor_comm = per_collective * collectives * shape.total_layers / pp
        if workload.parallelism.overlap_tensor_comm:
            # Overlapped with the neighbouring matmuls: only the SMs it takes are lost.
            tensor_comm *= COMM_SM_SHARE

    micro_batch_time = forward.plus(backward).plus(recompute)
    micro_batch_time.communication_s += tensor_comm

    global_batch = workload.global_batch or workload.micro_batch * layout.data
    micro_batches = max(1, round(global_batch / (workload.micro_batch * layout.data)))
    p2p = 0.0
    if pp > 1:
        # Activations cross each stage boundary forward and their gradients backward.
        p2p = 2 * (
            COLLECTIVE_LATENCY_S
            + tokens * shape.hidden_size * a / layout.tensor / (_link_for(layout.count, gpu) * GB)
        )
    per_micro = micro_batch_time.total_s + p2p
    # 1F1B: (m + p - 1) micro-batch slots; interleaving v chunks per stage shrinks the bubble
    # to (p - 1) / v slots (Narayanan et al. 2021, sec. 2.2.2, eq. 2).
    bubble_slots = (pp - 1) / workload.parallelism.virtual_stages
    pipeline_s = (micro_batches + bubble_slots) * per_micro
    bubble_s = bubble_slots * per_micro

    # Data-parallel gradient synchronization, overlapped with the last micro-batch's backward.
    grad_params = stage_parameter_count(shape, pp) / layout.tensor
    if adapter:
        from app.estimator.memory import lora_parameter_count

        lora = workload.lora_config
        grad_params = lora_parameter_count(shape, lora.rank, lora.targets) / (layout.tensor * pp)
    grad_bytes = grad_params * (4.0 if adapter else weight_bytes_per_param(workload))
    dp = layout.data
    dp_link = _link_for(layout.count, gpu)
    data_comm = allreduce_seconds(grad_bytes, dp, dp_link, eff.allreduce_fraction)
    exposed = max(0.0, data_comm - backward.total_s)
    exposed += COMM_SM_SHARE * min(data_comm, backward.total_s)
    if layout.zero_stage >= 3 and dp > 1 and not adapter:
        # FSDP / ZeRO-3 gathers the weights for the forward and again for the backward of
        # every micro-batch (1.5x an all-reduce's traffic), prefetched under compute.
        gather = 1.5 * allreduce_seconds(grad_bytes, dp, dp_link, eff.allreduce_fraction)
        per_micro = max(0.0, gather - micro_batch_time.total_s)
        per_micro += COMM_SM_SHARE * min(gather, micro_batch_time.total_s)
        exposed += micro_batches * per_micro

    optimizer_s = _optimizer_seconds(shape, workload, layout, gpu, eff)
    step = pipeline_s + exposed + optimizer_s
    breakdown = micro_batch_time.scaled(micro_batches + bubble_slots)
    breakdown.communication_s += exposed + p2p * (micro_batches + bubble_slots)
    breakdown.memory_s += optimizer_s
    return TrainingTime(
        step_s=step,
        breakdown=breakdown,
        micro_batches=micro_batches,
        global_batch=micro_batches * workload.micro_batch * dp,
        forward_s=forward.total_s,
        backward_s=backward.total_s,
        recompute_s=recompute.total_s,
        tensor_comm_s=tensor_comm,
        data_comm_exposed_s=exposed,
        pipeline_bubble_s=bubble_s,
        optimizer_s=optimizer_s,
    )


# Bytes an optimizer reads and writes per parameter in one step (mixed precision: fp32 master,
# 16-bit gradient and working copy): AdamW reads master, grad, m, v and writes master, m, v and
# the 16-bit copy.
_OPTIMIZER_TRAFFIC = {
    Optimizer.adamw: 4 + 2 + 4 + 4 + 4 + 4 + 4 + 2,
    Optimizer.adamw_8bit: 4 + 2 + 1 + 1 + 4 + 1 + 1 + 2,
    Optimizer.adamw_8bit_paged: 4 + 2 + 1 + 1 + 4 + 1 + 1 + 2,
    Optimizer.sgd: 4 + 2 + 4 + 4 + 4 + 2,
    Optimizer.adafactor: 4 + 2 + 4 + 2,
}


def _optimizer_seconds(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec, eff: Efficiency
) -> float:
    if workload.is_adapter:
        from app.estimator.memory import lora_parameter_count

        lora = workload.lora_config
        params = lora_parameter_count(shape, lora.rank, lora.targets) / (
            layout.tensor * layout.pipeline
        )
    else:
        params = stage_parameter_count(shape, layout.pipeline) / layout.tensor
        if layout.zero_stage >= 1:
            params /= layout.data
    traffic = _OPTIMIZER_TRAFFIC[workload.optimizer]
    if workload.precision in (Precision.fp32, Precision.tf32):
        traffic += 4  # fp32 gradients and weights, no separate working copy
    return eff.overhead_s + params * traffic / (gpu.bandwidth_bytes_s * eff.bandwidth_fraction)


@dataclass(frozen=True)
class InferenceTime:
    prefill_s: float
    decode_step_s: float
    prefill: PhaseTime
    decode: PhaseTime


def inference_time(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec, eff: Efficiency
) -> InferenceTime:
    """Prefill of the prompt (time to first token) and one decode step at the mean context."""
    inference = workload.inference_config
    precision = workload.precision.value
    a = activation_bytes_per_element(workload.precision)
    w = weight_bytes_per_param(workload)
    compute_precision = "bf16" if precision in ("fp32", "tf32") and w < 4 else precision
    t = layout.tensor

    kv = kv_bytes_per_element(workload)

    def run(batch: int, seq: int, kv_len: int | None, logits_tokens: int | None) -> PhaseTime:
        phase = PhaseTime()
        for op in model_ops(
            shape,
            batch=batch,
            seq_len=seq,
            act_bytes=a,
            weight_bytes=w,
            flash=workload.flash_attention,
            tensor_parallel=t,
            logits_tokens=logits_tokens,
            kv_len=kv_len,
            kv_bytes=kv,
            fused=workload.fused_kernels,
        ):
            phase.add_op(op_time(op, gpu, eff, compute_precision), op.count)
        if t > 1:
            phase.communication_s += (
                2
                * shape.total_layers
                * allreduce_seconds(
                    batch * seq * shape.hidden_size * a,
                    t,
                    _link_for(t, gpu),
                    eff.allreduce_fraction,
                )
            )
        # Pipeline stages run one after another for a single batch; their time adds up, but
        # each GPU does 1/pp of the layers, so the latency is that of the whole model.
        return phase

    prefill = run(inference.batch, inference.prompt_tokens, None, 1)
    mean_context = inference.prompt_tokens + max(1, inference.output_tokens) // 2
    decode = run(inference.batch, 1, mean_context, 1)
    return InferenceTime(prefill.total_s, decode.total_s, prefill, decode)


def model_flops_per_token(shape: TransformerShape, seq_len: int) -> float:
    """Training FLOPs per token without recomputation (the "model FLOPs" of MFU; Chowdhery et
    al. 2022, "PaLM", appendix B): 3x the forward matrix FLOPs per token."""
    from app.estimator.flops import training_flops

    ops = model_ops(shape, batch=1, seq_len=seq_len, act_bytes=2, weight_bytes=2)
    return training_flops(ops) / seq_len
