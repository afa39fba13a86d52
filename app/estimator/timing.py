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

from app.estimator.collectives import (
    Fabric,
    all_gather_s,
    all_reduce_s,
    all_to_all_s,
    reduce_scatter_s,
)
from app.estimator.flops import SELECTIVE_RECOMPUTE, Op, OpKind, model_ops
from app.estimator.hardware import Efficiency, GpuSpec
from app.estimator.memory import (
    Layout,
    activation_bytes_per_element,
    kv_bytes_per_element,
    quantizable_parameter_count,
    stage_parameter_count,
    weight_bytes_per_param,
)
from app.estimator.model import TransformerShape, sequence_tokens
from app.estimator.units import GB, TERA, bytes_per_element
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


# CPU time eager PyTorch spends to dispatch one kernel (Python, autograd, ATen dispatcher,
# cudaLaunchKernel): 5-25 us per op along that chain (J. Lin, "From PyTorch op to kernel
# launch", dispatch-chain table). Taken from one published end-to-end figure: Llama 3.1 8B
# decode on an H100 SXM takes 8.4 ms eager and 5.1 ms as a CUDA graph (cloudai.pt, "CUDA Graphs
# + torch.compile: 1.65x LLM decode speedup"); the eager step is CPU-bound and launches
# ~ 1,230 kernels (flops.EAGER_KERNELS x 32 layers), so 8.4 ms / 1,230 = 7 us per kernel.
EAGER_DISPATCH_S = 7e-6
# Autograd launches about two kernels per forward kernel in the backward pass (input and
# weight gradients for matmuls; the elementwise chain's derivatives).
EAGER_BACKWARD_KERNELS = 2


def op_time(
    op: Op,
    gpu: GpuSpec,
    eff: Efficiency,
    precision: str,
    *,
    fp8_weight_cast: bool = False,
    dispatch_s: float = 0.0,
) -> OpTime:
    """Time of one execution of `op` (a roofline with a fixed kernel overhead).

    Causal attention kernels skip the masked half of the score matrix (Dao 2023,
    "FlashAttention-2", sec. 3.1.1), so their work is half of the counted FLOPs.
    `fp8_weight_cast`: fp8 training casts the 16-bit weights and inputs of each fp8 matmul
    first (Transformer Engine); fp8 inference stores its weights in fp8 and casts nothing.
    `dispatch_s`: eager runtimes launch each kernel from Python; the GPU cannot run the op
    faster than the CPU issues its `op.kernels` kernels (CPU and GPU run asynchronously, so
    the slower of the two sets the pace).
    """
    op_precision = _op_precision(op, precision)
    peak, used = gpu.peak_flops(op_precision)
    memory_bytes = op.bytes
    measured_tflops = None
    if op.kind is OpKind.matmul:
        measured_tflops = eff.measured_gemm_tflops(op.m, op.n, op.k, used)
    elif op.kind is OpKind.attention:
        measured_tflops = eff.measured_attention_tflops(op.m, op.k, used)
    if measured_tflops is not None:
        # This GPU model's own size sweep (probes), at the power cap's clock.
        compute = op.flops / (measured_tflops * TERA * gpu.clock_derate)
        if op.kind is OpKind.attention and op.causal:
            compute /= 2
    elif op.kind is OpKind.matmul:
        compute = op.flops / (peak * eff.matmul_fraction_for(used))
    elif op.kind is OpKind.attention:
        work = op.flops / 2 if op.causal else op.flops
        compute = work / (peak * eff.attention_fraction)
    else:
        compute = 0.0
    if op.kind is OpKind.matmul and fp8_weight_cast and op.weight_elements and used == "fp8":
        memory_bytes += (op.m * op.k + op.weight_elements) * FP8_CAST_BYTES_PER_ELEMENT
    memory = memory_bytes / (gpu.bandwidth_bytes_s * eff.bandwidth_fraction)
    fixed = eff.overhead_s
    if op.kind is OpKind.elementwise and eff.memory_op_overhead_s is not None:
        fixed = eff.memory_op_overhead_s
    seconds = max(fixed + max(compute, memory), op.kernels * dispatch_s)
    return OpTime(seconds, compute, memory)


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
    """Ring all-reduce of `size_bytes` over `ranks` GPUs on one kind of link of `link_gb_s` per
    direction (a flat fabric; the layout-aware form is collectives.all_reduce_s)."""
    if ranks <= 1 or size_bytes <= 0:
        return 0.0
    traffic = 2.0 * (ranks - 1) / ranks * size_bytes
    return COLLECTIVE_LATENCY_S + traffic / (link_gb_s * GB * fraction)


@dataclass(frozen=True)
class TrainingTime:
    """One optimizer step. Fields ending `_per_micro_batch_s` are one micro-batch on one
    pipeline stage; `_per_step_s` fields are once per optimizer step."""

    step_s: float
    breakdown: PhaseTime
    micro_batches: int
    global_batch: int
    forward_per_micro_batch_s: float
    backward_per_micro_batch_s: float
    recompute_per_micro_batch_s: float
    tensor_comm_per_micro_batch_s: float
    expert_comm_per_micro_batch_s: float
    data_comm_exposed_per_step_s: float
    pipeline_bubble_per_step_s: float
    optimizer_per_step_s: float
    efficiency_notes: tuple[str, ...] = ()


def _ops_for_training(shape: TransformerShape, workload: Workload, layout: Layout) -> list[Op]:
    return model_ops(
        shape,
        batch=workload.micro_batch,
        seq_len=sequence_tokens(shape, workload.seq_len),
        act_bytes=activation_bytes_per_element(workload.precision),
        weight_bytes=weight_bytes_per_param(workload),
        flash=workload.fused_attention,
        tensor_parallel=layout.tensor,
        fused=workload.uses_fused_kernels,
    )


@dataclass
class _MicroBatchCompute:
    forward: PhaseTime
    backward: PhaseTime
    recompute: PhaseTime


def _micro_batch_compute(
    ops: list[Op], workload: Workload, layout: Layout, gpu: GpuSpec, eff: Efficiency
) -> _MicroBatchCompute:
    """Forward, backward and recomputation of one micro-batch on the heaviest pipeline stage."""
    precision = workload.precision.value
    adapter = workload.is_adapter
    out = _MicroBatchCompute(PhaseTime(), PhaseTime(), PhaseTime())
    dispatch = EAGER_DISPATCH_S if workload.runs_eager else 0.0
    for op in ops:
        gpu_t = op_time(op, gpu, eff, precision, fp8_weight_cast=True)
        t = OpTime(max(gpu_t.seconds, op.kernels * dispatch), gpu_t.compute_s, gpu_t.memory_s)
        floor = op.kernels * EAGER_BACKWARD_KERNELS * dispatch
        share = op.count / layout.pipeline if op.layer_op else op.count
        out.forward.add_op(t, share)
        if op.kind is OpKind.attention:
            bwd_factor = ATTENTION_BACKWARD_FACTOR
        elif op.kind is OpKind.matmul and adapter and op.weight_elements:
            bwd_factor = 1.0  # frozen base weights: input gradients only (adapters are tiny)
        else:
            bwd_factor = 2.0
        gpu_backward = gpu_t.seconds * bwd_factor
        backward = OpTime(max(gpu_backward, floor), t.compute_s, t.memory_s)
        out.backward.add_op(backward, share)
        if op.layer_op and (
            workload.activation_checkpointing is Checkpointing.full
            or (
                workload.activation_checkpointing is Checkpointing.selective
                and op.name.split(".")[0] in SELECTIVE_RECOMPUTE
            )
        ):
            out.recompute.add_op(t, share)
    return out


def _qlora_dequantize_s(
    shape: TransformerShape, layout: Layout, gpu: GpuSpec, eff: Efficiency
) -> float:
    """bitsandbytes dequantizes each NF4 weight to bf16 before every matmul (forward and
    backward): read 0.52 B, write 2 B per parameter."""
    quantized = quantizable_parameter_count(shape) / (layout.tensor * layout.pipeline)
    return quantized * (0.52 + 2.0) / (gpu.bandwidth_bytes_s * eff.bandwidth_fraction)


def _tensor_comm_per_micro_batch_s(
    shape: TransformerShape, workload: Workload, layout: Layout, fabric: Fabric
) -> float:
    """Megatron-LM: two all-reduces (or all-gather + reduce-scatter with sequence parallelism,
    the same traffic) of the block's activations per block forward and two backward, plus two
    more when full recomputation reruns the forward (Shoeybi et al. 2019, sec. 3)."""
    t = layout.tensor
    if t <= 1:
        return 0.0
    a = activation_bytes_per_element(workload.precision)
    tokens = workload.micro_batch * sequence_tokens(shape, workload.seq_len)
    per_collective = all_reduce_s(
        tokens * shape.hidden_size * a, t, min(t, fabric.gpus_per_node), fabric
    )
    collectives = 4 + (2 if workload.activation_checkpointing is Checkpointing.full else 0)
    comm = per_collective * collectives * shape.total_layers / layout.pipeline
    if workload.parallelism.overlap_tensor_comm:
        comm *= COMM_SM_SHARE  # overlapped with the neighbouring matmuls: only SMs are lost
    return comm


def _expert_all_to_all_per_micro_batch_s(
    shape: TransformerShape, workload: Workload, layout: Layout, fabric: Fabric
) -> float:
    """Expert parallelism: each MoE layer sends every routed token's activations to its
    experts' GPUs and back (dispatch + combine), in the forward and again in the backward:
    4 all-to-alls of tokens x experts_per_token x hidden per layer (GShard, Lepikhin et al.
    2020, sec. 2.2). Taken as not overlapped with compute (an assumption: overlapping needs
    schedules like DeepSeek-V3's DualPipe)."""
    ep = layout.expert
    if ep <= 1 or not shape.is_moe:
        return 0.0
    a = activation_bytes_per_element(workload.precision)
    tokens = workload.micro_batch * sequence_tokens(shape, workload.seq_len)
    sent = tokens * shape.experts_per_token * shape.hidden_size * a / layout.tensor
    members = max(1, min(ep, fabric.gpus_per_node // layout.tensor))
    per_layer = 4 * all_to_all_s(sent, ep, members, fabric)
    return per_layer * shape.total_layers / layout.pipeline


def _pipeline_p2p_per_micro_batch_s(
    shape: TransformerShape, workload: Workload, layout: Layout, fabric: Fabric
) -> float:
    """Activations cross each stage boundary forward and their gradients backward; stages sit
    in different nodes when the job spans nodes (pipeline is the outermost dimension)."""
    if layout.pipeline <= 1:
        return 0.0
    a = activation_bytes_per_element(workload.precision)
    tokens = workload.micro_batch * sequence_tokens(shape, workload.seq_len)
    size = tokens * shape.hidden_size * a / layout.tensor
    across_nodes = layout.count > fabric.gpus_per_node
    bandwidth = (
        fabric.network_gb_s_per_gpu
        if across_nodes
        else fabric.intra_node_gb_s * fabric.intra_node_fraction
    )
    return 2 * (fabric.latency_s(2, 1 if across_nodes else 2) + size / (bandwidth * GB))


def data_parallel_members_per_node(layout: Layout, fabric: Fabric) -> int:
    """Data-parallel ranks that share a node: tensor parallelism is innermost, then data
    (Megatron-LM's rank order), so a node holds gpus_per_node / tensor of them."""
    return max(1, min(layout.data, fabric.gpus_per_node // layout.tensor))


# PyTorch DDP's default gradient bucket (bucket_cap_mb = 25, torch.nn.parallel.
# DistributedDataParallel docs): the last bucket's all-reduce starts only when the backward ends.
DDP_BUCKET_BYTES = 25 * 2**20


def _overlapped(comm_s: float, compute_s: float) -> float:
    """Exposed time of communication running under `compute_s` of compute: what does not fit
    under it, plus the SMs the communication kernels take from the compute they overlap."""
    return max(0.0, comm_s - compute_s) + COMM_SM_SHARE * min(comm_s, compute_s)


def _data_parallel_comm_exposed_s(
    shape: TransformerShape,
    workload: Workload,
    layout: Layout,
    fabric: Fabric,
    compute: _MicroBatchCompute,
    micro_batches: int,
) -> float:
    """Gradient synchronization and parameter gathering across data-parallel ranks, per step.

    - DDP and ZeRO-1/2: gradients in the reduce dtype are all-reduced (ZeRO-1/2: reduce-
      scattered, then the updated 16-bit parameters all-gathered: the same traffic) in buckets
      launched as the last micro-batch's backward produces them (Li et al. 2020, "PyTorch
      Distributed", sec. 3.2.3); the last bucket is exposed.
    - ZeRO-3 / FSDP: every micro-batch all-gathers the 16-bit parameters for its forward and
      again for its backward, and reduce-scatters its gradients (Zhao et al. 2023, "PyTorch
      FSDP", sec. 3.3), prefetched under that micro-batch's compute. Nothing else: the
      reduce-scatter already is the gradient reduction.
    """
    dp = layout.data
    if dp <= 1:
        return 0.0
    members = data_parallel_members_per_node(layout, fabric)
    if workload.is_adapter:
        from app.estimator.memory import lora_parameter_count

        lora = workload.lora_config
        params = lora_parameter_count(shape, lora.rank, lora.targets) / (
            layout.tensor * layout.pipeline
        )
        grad_bytes = params * 4.0  # adapters train in fp32
        weight_bytes = 0.0
    else:
        params = stage_parameter_count(shape, layout.pipeline) / layout.tensor
        grad_bytes = params * reduce_bytes_per_element(workload)
        weight_bytes = params * weight_bytes_per_param(workload)
    backward_s = compute.backward.total_s
    if layout.zero_stage >= 3 and not workload.is_adapter:
        micro_s = compute.forward.total_s + compute.backward.total_s + compute.recompute.total_s
        gathers = 2 * all_gather_s(weight_bytes, dp, members, fabric)
        scatter = reduce_scatter_s(grad_bytes, dp, members, fabric)
        return micro_batches * _overlapped(gathers + scatter, micro_s)
    sync = all_reduce_s(grad_bytes, dp, members, fabric)
    last_bucket = all_reduce_s(min(grad_bytes, DDP_BUCKET_BYTES), dp, members, fabric)
    return _overlapped(sync, backward_s) + last_bucket


def reduce_bytes_per_element(workload: Workload) -> float:
    """Bytes per gradient element on the wire: the workload's reduce dtype, else fp32 for
    mixed precision (Megatron-LM accumulates and all-reduces bf16 gradients in fp32; PyTorch
    AMP keeps fp32 parameters and gradients; torchtitan's FSDP reduces in fp32), else the
    weight format."""
    if workload.reduce_dtype is not None:
        return bytes_per_element(workload.reduce_dtype)
    if workload.mixed_precision and workload.keeps_master_weights:
        return 4.0
    return weight_bytes_per_param(workload)


def training_step_time(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec, eff: Efficiency
) -> TrainingTime:
    """One optimizer step on the slowest GPU: micro-batches through the pipeline (1F1B), data-
    parallel synchronization, optimizer update."""
    fabric = gpu.fabric(layout.count, eff.allreduce_fraction)
    ops = _ops_for_training(shape, workload, layout)
    compute = _micro_batch_compute(ops, workload, layout, gpu, eff)
    if workload.task is Task.qlora:
        dequant = _qlora_dequantize_s(shape, layout, gpu, eff)
        compute.forward.memory_s += dequant
        compute.backward.memory_s += dequant
    tensor_comm = _tensor_comm_per_micro_batch_s(shape, workload, layout, fabric)
    expert_comm = _expert_all_to_all_per_micro_batch_s(shape, workload, layout, fabric)
    micro_batch_time = compute.forward.plus(compute.backward).plus(compute.recompute)
    micro_batch_time.communication_s += tensor_comm + expert_comm

    global_batch = workload.global_batch or workload.micro_batch * layout.data
    micro_batches = max(1, round(global_batch / (workload.micro_batch * layout.data)))
    p2p = _pipeline_p2p_per_micro_batch_s(shape, workload, layout, fabric)
    per_micro = micro_batch_time.total_s + p2p
    # 1F1B: (m + p - 1) micro-batch slots; interleaving v chunks per stage shrinks the bubble
    # to (p - 1) / v slots (Narayanan et al. 2021, sec. 2.2.2, eq. 2).
    bubble_slots = (layout.pipeline - 1) / workload.parallelism.virtual_stages
    pipeline_s = (micro_batches + bubble_slots) * per_micro

    exposed = _data_parallel_comm_exposed_s(shape, workload, layout, fabric, compute, micro_batches)
    optimizer_s = _optimizer_seconds(shape, workload, layout, gpu, eff)
    breakdown = micro_batch_time.scaled(micro_batches + bubble_slots)
    breakdown.communication_s += exposed + p2p * (micro_batches + bubble_slots)
    breakdown.memory_s += optimizer_s
    return TrainingTime(
        step_s=pipeline_s + exposed + optimizer_s,
        breakdown=breakdown,
        micro_batches=micro_batches,
        global_batch=micro_batches * workload.micro_batch * layout.data,
        forward_per_micro_batch_s=compute.forward.total_s,
        backward_per_micro_batch_s=compute.backward.total_s,
        recompute_per_micro_batch_s=compute.recompute.total_s,
        tensor_comm_per_micro_batch_s=tensor_comm,
        expert_comm_per_micro_batch_s=expert_comm,
        data_comm_exposed_per_step_s=exposed,
        pipeline_bubble_per_step_s=bubble_slots * per_micro,
        optimizer_per_step_s=optimizer_s,
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
    fabric = gpu.fabric(layout.count, eff.allreduce_fraction)
    dispatch = EAGER_DISPATCH_S if workload.runs_eager else 0.0

    def run(batch: int, seq: int, kv_len: int | None, logits_tokens: int | None) -> PhaseTime:
        phase = PhaseTime()
        for op in model_ops(
            shape,
            batch=batch,
            seq_len=seq,
            act_bytes=a,
            weight_bytes=w,
            flash=workload.fused_attention,
            tensor_parallel=t,
            logits_tokens=logits_tokens,
            kv_len=kv_len,
            kv_bytes=kv,
            fused=workload.uses_fused_kernels,
        ):
            phase.add_op(op_time(op, gpu, eff, compute_precision, dispatch_s=dispatch), op.count)
        if t > 1:
            phase.communication_s += (
                2
                * shape.total_layers
                * all_reduce_s(
                    batch * seq * shape.hidden_size * a, t, min(t, fabric.gpus_per_node), fabric
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
