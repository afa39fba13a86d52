"""Serving under load: continuous batching over a paged KV cache, simulated request by request.

A serving engine (vLLM, SGLang, TensorRT-LLM, TGI) runs one *iteration* after another; each
iteration runs the model once over every running sequence: one new token for each sequence that
is decoding, plus a chunk of the prompt of sequences still in prefill (chunked prefill, Agrawal
et al. 2024, "Taming Throughput-Latency Tradeoff in LLM Inference with Sarathi-Serve", sec. 4),
up to a token budget per iteration. Sequences join and leave the batch between iterations
(iteration-level scheduling, Yu et al. 2022, "Orca", sec. 3.2); their keys and values live in
fixed-size blocks of a paged cache (Kwon et al. 2023, "Efficient Memory Management for Large
Language Model Serving with PagedAttention", sec. 4); when the blocks run out the newest running
sequence is preempted and recomputed later (ibid., sec. 4.5, "recomputation").

The iteration time comes from the estimator's per-op roofline (`timing.op_time`): the linear
layers of one forward pass over T tokens (bandwidth-bound on the weights at small T, compute-
bound at large T), attention whose cost grows with each sequence's context (decode: reading the
KV cache; prefill: causal attention over the chunk), and the tensor-parallel all-reduces. The
linear part is tabulated once per configuration on a grid of T and interpolated, so one
iteration costs a few arithmetic operations; a stretch of decode-only iterations with no arrival,
completion or block shortage in it is advanced in one step. This is the approach of Vidur
(Agrawal et al. 2024, "Vidur: A Large-Scale Simulation Framework for LLM Inference", sec. 4),
with roofline op times in place of profiled ones.

The module is pure (stdlib only): no numpy, no web or database imports.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field, replace

from app.estimator.collectives import all_reduce_s
from app.estimator.flops import OpKind, model_ops
from app.estimator.hardware import Efficiency, GpuSpec
from app.estimator.memory import NCCL_BUFFERS_BYTES, NF4_BITS_PER_PARAM, RUNTIME_CONTEXT_BYTES
from app.estimator.model import TransformerShape, parameter_count
from app.estimator.timing import op_time
from app.estimator.units import bytes_per_element

# --------------------------------------------------------------------------------------------
# Engines


@dataclass(frozen=True)
class EngineProfile:
    """One serving engine's scheduling and memory defaults (each from its documentation).

    `memory_fraction`: share of device memory the engine may use for weights + activations +
    KV cache (vLLM `gpu_memory_utilization`, SGLang `mem_fraction_static`); for TensorRT-LLM
    (`memory_fraction_of_free`) the share of what is free after weights and activations.
    `step_overhead_s`: CPU time per iteration (scheduling, sampling, detokenization) not hidden
    behind the GPU; an assumption per engine, checked by the serving validation rows.
    """

    name: str
    block_size_tokens: int
    max_batched_tokens_small_gpu: int  # chunked-prefill token budget per iteration
    max_batched_tokens_large_gpu: int  # on GPUs with >= LARGE_GPU_GIB of memory
    max_num_seqs: int
    memory_fraction: float
    memory_fraction_of_free: bool
    cuda_graph_max_batch: int  # decode batches up to this size replay a CUDA graph
    max_concurrent_requests: int | None  # requests beyond this are rejected (TGI: 429)
    step_overhead_s: float
    source: str
    per_sequence_overhead_s: float = 0.0  # CPU per running sequence per iteration
    # Seen by the client before its first token beyond the engine's iterations: HTTP, request
    # parsing and tokenization, the first streamed chunk.
    request_overhead_s: float = 0.0

    def max_batched_tokens(self, memory_gib: float) -> int:
        if memory_gib >= LARGE_GPU_GIB:
            return self.max_batched_tokens_large_gpu
        return self.max_batched_tokens_small_gpu


LARGE_GPU_GIB = 70.0  # vLLM's threshold for its larger defaults (engine/arg_utils.py, V1)

ENGINES: dict[str, EngineProfile] = {
    # vLLM V1 (0.8+): block size 16 on CUDA, gpu_memory_utilization 0.9, chunked prefill always
    # on with max_num_batched_tokens 2048 for the OpenAI server (8192 on >= 70 GiB GPUs),
    # max_num_seqs 256 (1024 on >= 70 GiB), CUDA graphs captured up to batch 512.
    "vllm": EngineProfile(
        name="vllm",
        block_size_tokens=16,
        max_batched_tokens_small_gpu=2048,
        max_batched_tokens_large_gpu=8192,
        max_num_seqs=256,
        memory_fraction=0.9,
        memory_fraction_of_free=False,
        cuda_graph_max_batch=512,
        max_concurrent_requests=None,
        step_overhead_s=1.0e-3,
        # Fitted on the serving validation rows (scripts/validate_serving.py): leave-one-source-
        # out fits give 250-300 us, all rows 250 us. It is the CPU work per sequence and step
        # (sampling, detokenization, scheduling) that vLLM's v0.6.0 release post ("vLLM v0.6.0:
        # 2.7x Throughput Improvement and 75% Latency Reduction", Sep 2024) measured as the
        # dominant share of a step at large batch; V1's separate processes reduce it.
        per_sequence_overhead_s=250e-6,
        source="vLLM docs, Engine Arguments (--block-size, --gpu-memory-utilization, "
        "--max-num-batched-tokens, --max-num-seqs) and Optimization and Tuning "
        "(chunked prefill on by default in V1), https://docs.vllm.ai/en/latest/",
    ),
    # SGLang: token-granular radix cache (page_size 1), mem_fraction_static ~ 0.88 on 80 GB
    # GPUs, chunked_prefill_size 8192 (2048 on small GPUs), cuda_graph_max_bs 160.
    "sglang": EngineProfile(
        name="sglang",
        block_size_tokens=1,
        max_batched_tokens_small_gpu=2048,
        max_batched_tokens_large_gpu=8192,
        max_num_seqs=1024,
        memory_fraction=0.88,
        memory_fraction_of_free=False,
        cuda_graph_max_batch=160,
        max_concurrent_requests=None,
        step_overhead_s=0.7e-3,
        source="SGLang docs, Server Arguments (--page-size, --mem-fraction-static, "
        "--chunked-prefill-size, --cuda-graph-max-bs, --max-running-requests), "
        "https://docs.sglang.ai/backend/server_arguments.html",
    ),
    # TensorRT-LLM (LLM API / trtllm-serve): tokens_per_block 32, KV cache gets 0.9 of the
    # memory free after weights and activations, max_num_tokens 8192, max_batch_size 2048,
    # CUDA graphs (PyTorch backend) up to batch 128; chunked context is enabled by default.
    "tensorrt-llm": EngineProfile(
        name="tensorrt-llm",
        block_size_tokens=32,
        max_batched_tokens_small_gpu=8192,
        max_batched_tokens_large_gpu=8192,
        max_num_seqs=2048,
        memory_fraction=0.9,
        memory_fraction_of_free=True,
        cuda_graph_max_batch=128,
        max_concurrent_requests=None,
        step_overhead_s=0.5e-3,
        source="TensorRT-LLM docs, LLM API KvCacheConfig (free_gpu_memory_fraction 0.9, "
        "tokens_per_block) and BuildConfig (max_batch_size 2048, max_num_tokens 8192), "
        "https://nvidia.github.io/TensorRT-LLM/",
    ),
    # Text Generation Inference v3: paged blocks of 16 (flash/paged attention backends),
    # --max-batch-prefill-tokens 4096, CUDA graphs for batches 1-32, --max-concurrent-requests
    # 128 (the router answers 429 beyond it), --cuda-memory-fraction 1.0 minus what the warmup
    # measures; taken here as 0.95.
    "tgi": EngineProfile(
        name="tgi",
        block_size_tokens=16,
        max_batched_tokens_small_gpu=4096,
        max_batched_tokens_large_gpu=4096,
        max_num_seqs=128,
        memory_fraction=0.95,
        memory_fraction_of_free=False,
        cuda_graph_max_batch=32,
        max_concurrent_requests=128,
        step_overhead_s=1.5e-3,
        source="Hugging Face TGI docs, Launcher arguments (--max-batch-prefill-tokens, "
        "--cuda-graphs, --max-concurrent-requests, --cuda-memory-fraction), "
        "https://huggingface.co/docs/text-generation-inference/reference/launcher",
    ),
}

# With CUDA graphs the CPU no longer launches each kernel; the per-kernel ramp-up and tail
# remain. Half of the estimator's per-kernel fixed time is taken as launch: an assumption.
CUDA_GRAPH_KERNEL_OVERHEAD_FACTOR = 0.5
# Memory a CUDA-graph capture holds (vLLM logs 0.5-1.5 GiB for 8B-70B models on H100); assumed.
CUDA_GRAPH_BYTES = 1.0 * 2**30

# --------------------------------------------------------------------------------------------
# Request lengths

# ShareGPT as vLLM's paper serves it: mean prompt 161 tokens, mean output 338 (Kwon et al.
# 2023, "PagedAttention", fig. 11 / sec. 6.1); both are long-tailed. The shape below is a
# log-normal with these coefficients of variation (sigma of the log), an assumption matching
# the histograms' spread; it is scaled to the requested means.
SHAREGPT_MEAN_PROMPT_TOKENS = 161.0
SHAREGPT_MEAN_OUTPUT_TOKENS = 338.0
SHAREGPT_LOG_SIGMA_PROMPT = 1.0
SHAREGPT_LOG_SIGMA_OUTPUT = 0.8
UNIFORM_HALF_WIDTH = 0.5  # "uniform": lengths uniform in mean x [0.5, 1.5] (vLLM range_ratio)


def _lengths(rng: random.Random, mean: int, distribution: str, sigma: float, cap: int) -> int:
    if distribution == "fixed" or mean <= 1:
        return mean
    if distribution == "uniform":
        low = max(1, round(mean * (1 - UNIFORM_HALF_WIDTH)))
        high = max(low, round(mean * (1 + UNIFORM_HALF_WIDTH)))
        return rng.randint(low, high)
    # log-normal with the given mean: mu = ln(mean) - sigma^2 / 2
    value = rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)
    return max(1, min(cap, round(value)))


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class ServingSetup:
    """What one replica (a tensor-parallel group) serves, and how."""

    shape: TransformerShape
    gpu: GpuSpec
    efficiency: Efficiency
    tensor_parallel: int = 1
    engine: str = "vllm"
    weight_precision: str = "bf16"  # bf16 | fp16 | fp8 | int8 | int4 (int8/int4 weight-only)
    kv_cache_precision: str = "bf16"  # bf16 | fp16 | fp8
    per_sequence_overhead_s: float | None = None  # None: the engine's figure


@dataclass(frozen=True)
class TrafficSpec:
    """The request stream: Poisson arrivals at `request_rate`, or `concurrency` closed-loop
    users (each sends its next request when the previous one finishes), or both (arrivals at
    the rate, at most `concurrency` in flight, as vLLM's benchmark_serving does)."""

    prompt_tokens: int
    output_tokens: int
    distribution: str = "fixed"
    request_rate: float | None = None
    concurrency: int | None = None
    num_requests: int = 1000
    seed: int = 0


def weight_bytes_per_param(precision: str) -> float:
    """int4 carries group-wise scales (GPTQ/AWQ, group 128: 4 + 16/128 bits); counted as NF4's
    4.127 bits (QLoRA sec. 3), the same order."""
    if precision == "int4":
        return NF4_BITS_PER_PARAM / 8
    return bytes_per_element(precision)


def _compute_precision(setup: ServingSetup) -> str:
    """fp8 weights run fp8 matmuls where the GPU has fp8 (W8A8, activations quantized per
    token); int8/int4 are weight-only: dequantized in the kernel, bf16 math."""
    if setup.weight_precision == "fp8" and setup.gpu.peak_tflops.get("fp8"):
        return "fp8"
    if setup.weight_precision == "fp16":
        return "fp16"
    return "bf16"


# --------------------------------------------------------------------------------------------
# Iteration time


def _grid(limit: int) -> list[int]:
    points = [1, 2, 3, 4, 6, 8, 12, 16]
    while points[-1] < limit:
        points.append(round(points[-1] * 1.25))
    return points


@dataclass
class IterationModel:
    """Seconds of one iteration over `tokens` new tokens, `rows` sequences needing logits,
    decode context `decode_context` (sum over decoding sequences) and prefill attention work.

    Built once per setup (`build_iteration_model`); calling it is a few multiply-adds.
    """

    grid: list[int]
    body_s: list[float]  # linear layers, norms, all-reduces: tabulated over tokens
    body_compute_bound: list[bool]
    head_s: list[float]  # LM head and the logits' softmax, over rows
    attn_layers: int
    attn_fixed_s: float  # one attention kernel launch per layer
    decode_s_per_context_token: float
    prefill_s_per_flop: float
    prefill_s_per_kv_byte: float
    kv_bytes_per_context_token_per_layer: float
    heads_dim_per_gpu: float  # (heads / TP) x head_dim, for prefill attention FLOPs
    step_overhead_s: float
    per_sequence_s: float  # CPU time per sequence producing a token (sampling, detokenizing)
    graph_saving_s: float  # kernel-launch time a CUDA graph saves at decode-only steps
    graph_max_batch: int
    _cache: dict[int, float] = field(default_factory=dict, repr=False)
    _bound_cache: dict[int, bool] = field(default_factory=dict, repr=False)

    def _interp(self, table: list[float], x: int) -> float:
        grid = self.grid
        if x <= grid[0]:
            return table[0] * x / grid[0] if x > 0 else 0.0
        i = bisect.bisect_left(grid, x)
        if i >= len(grid):
            # beyond the grid: linear in tokens from the last two points
            slope = (table[-1] - table[-2]) / (grid[-1] - grid[-2])
            return table[-1] + slope * (x - grid[-1])
        if grid[i] == x:
            return table[i]
        x0, x1 = grid[i - 1], grid[i]
        return table[i - 1] + (table[i] - table[i - 1]) * (x - x0) / (x1 - x0)

    def prefill_attention_flops(self, chunk: int, start: int) -> float:
        """Causal attention of `chunk` new tokens after `start` cached ones, per layer:
        4 x heads x head_dim x chunk x (start + chunk / 2) (the masked half skipped)."""
        return 4.0 * self.heads_dim_per_gpu * chunk * (start + chunk / 2.0)

    def seconds(
        self,
        tokens: int,
        rows: int,
        decode_context: float,
        prefill_flops: float = 0.0,
        prefill_kv_tokens: float = 0.0,
    ) -> float:
        if tokens <= 0:
            return 0.0
        cache = self._cache
        key = tokens * 1_000_003 + rows
        body = cache.get(key)
        if body is None:
            body = self._interp(self.body_s, tokens) + self._interp(self.head_s, rows)
            cache[key] = body
        decode = decode_context * self.decode_s_per_context_token
        prefill = 0.0
        if prefill_flops:
            prefill = max(
                prefill_flops * self.prefill_s_per_flop,
                prefill_kv_tokens
                * self.kv_bytes_per_context_token_per_layer
                * self.prefill_s_per_kv_byte,
            )
        attention = self.attn_layers * (self.attn_fixed_s + decode + prefill)
        total = body + attention + self.step_overhead_s + rows * self.per_sequence_s
        if not prefill_flops and tokens <= self.graph_max_batch:
            total -= self.graph_saving_s
        return total

    def decode_stretch(self, batch: int, context: float, steps: int) -> float:
        """Total seconds of `steps` decode-only iterations of `batch` sequences whose summed
        context starts at `context` and grows by `batch` per iteration (attention is linear in
        context, so the sum is closed-form)."""
        first = self.seconds(batch, batch, context)
        growth = self.attn_layers * self.decode_s_per_context_token * batch
        return steps * first + growth * steps * (steps - 1) / 2.0

    def decode_steps_within(self, batch: int, context: float, seconds: float) -> int:
        """Most decode-only iterations (at least 1) whose stretch ends within `seconds`:
        the root of steps x first + growth x steps (steps - 1) / 2 = seconds."""
        first = self.seconds(batch, batch, context)
        growth = self.attn_layers * self.decode_s_per_context_token * batch
        if seconds <= first:
            return 1
        if growth <= 0:
            return max(1, int(seconds / first))
        b = first - growth / 2
        steps = int((-b + math.sqrt(b * b + 2 * growth * seconds)) / growth)
        while steps > 1 and self.decode_stretch(batch, context, steps) > seconds:
            steps -= 1
        return max(1, steps)

    def is_compute_bound(self, tokens: int) -> bool:
        bound = self._bound_cache.get(tokens)
        if bound is None:
            i = min(bisect.bisect_left(self.grid, max(1, tokens)), len(self.grid) - 1)
            bound = self._bound_cache[tokens] = self.body_compute_bound[i]
        return bound


def kv_bytes_per_token(setup: ServingSetup) -> float:
    """Keys and values of one token on one GPU: 2 x layers x kv_heads x head_dim x bytes, the
    KV heads split over tensor parallelism (replicated when there are fewer than TP ranks, as
    vLLM does)."""
    shape = setup.shape
    kv_heads = max(1, shape.n_kv_heads // setup.tensor_parallel)
    return (
        2.0
        * shape.decoder_layers
        * kv_heads
        * shape.d_head
        * bytes_per_element(setup.kv_cache_precision)
    )


def build_iteration_model(setup: ServingSetup, max_tokens: int) -> IterationModel:
    """Tabulate the per-iteration cost of this model on this GPU and TP degree."""
    shape, gpu, eff = setup.shape, setup.gpu, setup.efficiency
    t = setup.tensor_parallel
    engine = ENGINES[setup.engine]
    a = 2.0
    w = weight_bytes_per_param(setup.weight_precision)
    precision = _compute_precision(setup)
    kv_b = bytes_per_element(setup.kv_cache_precision)
    grid = _grid(max(16, max_tokens))
    body: list[float] = []
    bound: list[bool] = []
    head: list[float] = []
    kernels = 0.0
    fabric = gpu.fabric(t, eff.allreduce_fraction)
    for tokens in grid:
        ops = model_ops(
            shape,
            batch=tokens,
            seq_len=1,
            act_bytes=a,
            weight_bytes=w,
            flash=True,
            tensor_parallel=t,
            logits_tokens=1,
            kv_len=1,
            kv_bytes=kv_b,
            fused=True,
        )
        b_s = h_s = compute = memory = 0.0
        n_kernels = 0.0
        for op in ops:
            if op.kind is OpKind.attention:
                continue
            ot = op_time(op, gpu, eff, precision)  # fp8 weights are stored cast: no cast
            if op.name in ("lm_head", "loss"):
                h_s += ot.seconds * op.count
            else:
                b_s += ot.seconds * op.count
                compute += ot.compute_s * op.count
                memory += ot.memory_s * op.count
                n_kernels += op.count
        if t > 1:  # two all-reduces of the hidden states per layer (Megatron-LM)
            b_s += (
                2
                * shape.decoder_layers
                * all_reduce_s(
                    tokens * shape.hidden_size * a, t, min(t, fabric.gpus_per_node), fabric
                )
            )
        body.append(b_s)
        bound.append(compute >= memory)
        head.append(h_s)
        kernels = n_kernels + 2  # + lm head and softmax
    peak16, _ = gpu.peak_flops("bf16")
    bw = gpu.bandwidth_bytes_s * eff.bandwidth_fraction
    heads_t = max(1, shape.heads // t)
    kv_per_token_layer = kv_bytes_per_token(setup) / shape.decoder_layers
    decode_flops_per_ctx = 4.0 * heads_t * shape.d_head
    decode_s = max(
        decode_flops_per_ctx / (peak16 * eff.attention_fraction), kv_per_token_layer / bw
    )
    kernels += shape.decoder_layers  # attention
    return IterationModel(
        grid=grid,
        body_s=body,
        body_compute_bound=bound,
        head_s=head,
        attn_layers=shape.decoder_layers,
        attn_fixed_s=eff.overhead_s,
        decode_s_per_context_token=decode_s,
        prefill_s_per_flop=1.0 / (peak16 * eff.attention_fraction),
        prefill_s_per_kv_byte=1.0 / bw,
        kv_bytes_per_context_token_per_layer=kv_per_token_layer,
        heads_dim_per_gpu=float(heads_t * shape.d_head),
        step_overhead_s=engine.step_overhead_s,
        per_sequence_s=(
            engine.per_sequence_overhead_s
            if setup.per_sequence_overhead_s is None
            else setup.per_sequence_overhead_s
        ),
        graph_saving_s=kernels * eff.overhead_s * CUDA_GRAPH_KERNEL_OVERHEAD_FACTOR,
        graph_max_batch=engine.cuda_graph_max_batch,
    )


# --------------------------------------------------------------------------------------------
# Memory: KV-cache capacity


@dataclass(frozen=True)
class KvCapacity:
    """Per GPU: what the engine budgets, and how many KV blocks are left for the cache."""

    weights_bytes: float
    activation_bytes: float
    reserved_bytes: float  # runtime context, communicator buffers, CUDA graphs
    kv_bytes: float
    blocks: int
    block_size_tokens: int
    kv_bytes_per_token: float
    budget_bytes: float

    @property
    def tokens(self) -> int:
        return self.blocks * self.block_size_tokens


def kv_capacity(setup: ServingSetup) -> KvCapacity:
    """KV-cache blocks after weights, the profiled activation peak and the engine's reserve.

    vLLM profiles one forward pass of max_num_batched_tokens and gives the KV cache what is
    left of gpu_memory_utilization x device memory (vLLM docs, "Engine Arguments"); SGLang
    does the same under mem_fraction_static; TensorRT-LLM gives the cache a fraction of the
    memory still free after loading (KvCacheConfig.free_gpu_memory_fraction).
    """
    shape, gpu = setup.shape, setup.gpu
    t = setup.tensor_parallel
    engine = ENGINES[setup.engine]
    weights = parameter_count(shape) * weight_bytes_per_param(setup.weight_precision) / t
    tokens = engine.max_batched_tokens(gpu.memory_gib)
    up = (2 if shape.gated_ffn else 1) * shape.ffn * shape.experts_per_token
    widest = max(shape.q_dim + 2 * shape.kv_dim, up) / t
    activations = tokens * (2 * shape.hidden_size + widest) * 2.0
    activations += min(engine.max_num_seqs, tokens) * shape.vocab_size / t * 4.0  # fp32 logits
    reserved = RUNTIME_CONTEXT_BYTES + CUDA_GRAPH_BYTES + (NCCL_BUFFERS_BYTES if t > 1 else 0.0)
    capacity = gpu.memory_capacity_bytes
    if engine.memory_fraction_of_free:
        budget = capacity
        kv = engine.memory_fraction * (capacity - weights - activations - reserved)
    else:
        budget = engine.memory_fraction * capacity
        kv = budget - weights - activations - reserved
    per_token = kv_bytes_per_token(setup)
    blocks = max(0, math.floor(kv / (per_token * engine.block_size_tokens))) if kv > 0 else 0
    return KvCapacity(
        weights_bytes=weights,
        activation_bytes=activations,
        reserved_bytes=reserved,
        kv_bytes=max(0.0, kv),
        blocks=blocks,
        block_size_tokens=engine.block_size_tokens,
        kv_bytes_per_token=per_token,
        budget_bytes=budget,
    )


# --------------------------------------------------------------------------------------------
# Simulation


def _percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99 by the nearest-rank method on sorted values (0 for none)."""
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99)}


@dataclass
class SimulationResult:
    """What the simulated stream measured (one replica)."""

    requests: int
    completed: int
    dropped: int
    preemptions: int
    ttft_s: dict[str, float]
    tpot_s: dict[str, float]
    e2e_s: dict[str, float]
    queue_s: dict[str, float]
    duration_s: float
    output_tokens_per_second: float
    output_tokens_per_second_per_user: float
    mean_running: float
    max_blocks_used: int
    kv_blocks: int
    iterations: int
    compute_bound_share: float
    kv_limited_share: float  # of iterations in which waiting requests could not get blocks
    dropped_reasons: list[str] = field(default_factory=list)
    ttft_mean_s: float = 0.0
    tpot_mean_s: float = 0.0


# Work bound: a simulation covers at most this many prompt + output tokens (mean lengths x
# requests), so that no input can make a request run for minutes; fewer requests are simulated
# (and the answer says so) when the lengths are extreme.
MAX_SIMULATED_TOKENS = 2_000_000


def per_request_mean(traffic: TrafficSpec) -> int:
    return max(1, traffic.prompt_tokens + traffic.output_tokens)


# A request's state in the simulation.
WAITING, PREFILL, DECODE, DONE = 0, 1, 2, 3
MAX_ITERATIONS = 2_000_000
# Blocks handed out at once to a decoding request while the cache has ample room (see grant()).
BLOCK_LOOKAHEAD = 8  # a hard stop so that no configuration can hang the service


def simulate(
    setup: ServingSetup,
    traffic: TrafficSpec,
    *,
    model: IterationModel | None = None,
    capacity: KvCapacity | None = None,
) -> SimulationResult:
    """Continuous batching with chunked prefill over a seeded request stream (one replica).

    Scheduling follows vLLM V1: running sequences first (decodes, then unfinished prefill
    chunks) within the token budget, then waiting requests in arrival order while sequences,
    budget and KV blocks last. A request whose whole context can never fit in the cache is
    dropped; a running sequence that cannot get a block preempts the newest running sequence,
    whose KV cache is freed and recomputed when it is scheduled again.

    Decoding sequences are not visited one by one: each carries the iteration at which it
    entered decode, so its context and output count follow from the global iteration counter;
    its next block allocation and its completion are events in two heaps. An iteration then
    costs O(prefilling sequences + events), and a run of decode-only iterations up to the next
    completion, arrival or block shortage is advanced at once.
    """
    engine = ENGINES[setup.engine]
    budget = engine.max_batched_tokens(setup.gpu.memory_gib)
    capacity = capacity or kv_capacity(setup)
    model = model or build_iteration_model(setup, budget + engine.max_num_seqs)
    block = capacity.block_size_tokens
    total_blocks = capacity.blocks
    max_seqs = engine.max_num_seqs

    rng = random.Random(traffic.seed)
    n = max(1, min(traffic.num_requests, MAX_SIMULATED_TOKENS // per_request_mean(traffic)))
    cap = max(traffic.prompt_tokens, traffic.output_tokens) * 20
    prompt = [
        _lengths(rng, traffic.prompt_tokens, traffic.distribution, SHAREGPT_LOG_SIGMA_PROMPT, cap)
        for _ in range(n)
    ]
    output = [
        max(
            1,
            _lengths(
                rng, traffic.output_tokens, traffic.distribution, SHAREGPT_LOG_SIGMA_OUTPUT, cap
            ),
        )
        for _ in range(n)
    ]
    arrival = [0.0] * n
    if traffic.request_rate:
        clock = 0.0
        for i in range(n):
            clock += rng.expovariate(traffic.request_rate)
            arrival[i] = clock
    closed = traffic.concurrency is not None
    limit = traffic.concurrency

    mode = [WAITING] * n
    epoch = [0] * n
    computed = [0] * n  # tokens with KV in the cache (materialized for non-decoding requests)
    generated = [0] * n
    blocks = [0] * n
    g0 = [0] * n  # decode entry: global iteration, computed and generated at that moment
    first = [-1.0] * n
    finish = [-1.0] * n
    admitted = [-1.0] * n
    dropped_flag = [False] * n
    reasons: list[str] = []

    pending: list[tuple[float, int]] = []  # heap of (ready time, request)
    next_request = 0
    in_flight = 0

    def release(now: float) -> None:
        nonlocal next_request, in_flight
        while next_request < n and (limit is None or in_flight < limit):
            # TTFT counts from when the request is sent: its arrival, or (closed loop) when
            # its user's previous request finished
            ready = max(arrival[next_request], now) if closed else arrival[next_request]
            arrival[next_request] = ready
            heapq.heappush(pending, (ready, next_request))
            next_request += 1
            in_flight += 1

    def blocks_for(tokens: int) -> int:
        return -(-tokens // block)

    waiting: deque[int] = deque()  # FIFO (preempted requests go back to the front)
    prefilling: list[int] = []  # running, not yet decoding, in admission order
    order: list[tuple[int, int]] = []  # (request, epoch) in admission order, for preemption
    finish_events: list[tuple[int, int, int]] = []  # (iteration, epoch, request)
    block_events: list[tuple[int, int, int]] = []  # (iteration needing a block, epoch, request)
    decoding = 0
    context_sum = 0  # sum of `computed` over decoding requests at iteration `g`
    g = 0  # iterations executed
    free = total_blocks
    now = 0.0
    preemptions = iterations_kv_limited = compute_iters = 0
    max_used = 0
    running_area = 0.0
    done = 0
    passes = 0

    def drop(i: int, why: str) -> None:
        nonlocal done, in_flight
        dropped_flag[i] = True
        mode[i] = DONE
        done += 1
        in_flight -= 1
        if len(reasons) < 3 and why not in reasons:
            reasons.append(why)

    def materialize(i: int) -> None:
        nonlocal decoding, context_sum
        steps = g - g0[i]
        computed[i] += steps
        generated[i] += steps
        context_sum -= computed[i]
        decoding -= 1

    def preempt_newest(protect: int) -> bool:
        """Free the newest running request's blocks (not `protect`); False if none left."""
        nonlocal free, preemptions
        while order:
            i, e = order[-1]
            if epoch[i] != e or mode[i] not in (PREFILL, DECODE):
                order.pop()
                continue
            if i == protect:
                return False
            order.pop()
            if mode[i] == DECODE:
                materialize(i)
            else:
                prefilling.remove(i)
            free += blocks[i]
            blocks[i] = 0
            computed[i] = 0
            epoch[i] += 1
            mode[i] = WAITING
            waiting.appendleft(i)
            preemptions += 1
            return True
        return False

    def start_decode(i: int) -> None:
        nonlocal decoding, context_sum
        mode[i] = DECODE
        g0[i] = g
        decoding += 1
        context_sum += computed[i]
        heapq.heappush(finish_events, (g + output[i] - generated[i], epoch[i], i))
        heapq.heappush(block_events, (g + blocks[i] * block - computed[i], epoch[i], i))

    def grant(i: int) -> int:
        """Blocks given to a decoding request that has filled its last one: one, as the
        engines do, or (while the cache has ample room) up to BLOCK_LOOKAHEAD of the blocks it
        will still need, so that the simulation handles fewer allocation events. Both never
        exceed the free blocks or the request's final length."""
        still_needed = blocks_for(prompt[i] + output[i]) - blocks[i]
        if free > BLOCK_LOOKAHEAD * (decoding + 1) * 4:
            return max(1, min(BLOCK_LOOKAHEAD, still_needed, free))
        return 1

    release(0.0)
    while done < n and passes < MAX_ITERATIONS:
        passes += 1
        while pending and pending[0][0] <= now:
            _, i = heapq.heappop(pending)
            if prompt[i] + output[i] > total_blocks * block:
                drop(
                    i,
                    f"a request of {prompt[i] + output[i]} tokens exceeds the KV cache "
                    f"({total_blocks * block} tokens)",
                )
                continue
            if (
                engine.max_concurrent_requests is not None
                and len(waiting) + len(prefilling) + decoding >= engine.max_concurrent_requests
            ):
                drop(
                    i,
                    f"{engine.name} rejects requests beyond {engine.max_concurrent_requests} "
                    "concurrent ones",
                )
                continue
            waiting.append(i)
        if not decoding and not prefilling and not waiting:
            release(now)
            if pending:
                now = max(now, pending[0][0])
                continue
            break

        # ---- decoding requests that need a block at this iteration
        while block_events and block_events[0][0] <= g:
            _, e, i = heapq.heappop(block_events)
            if epoch[i] != e or mode[i] != DECODE:
                continue
            while free <= 0 and preempt_newest(i):
                pass
            if mode[i] != DECODE:
                continue
            if free <= 0:  # it is the only one left: preempt itself
                order_entry = (i, epoch[i])
                if order and order[-1] == order_entry:
                    order.pop()
                materialize(i)
                free += blocks[i]
                blocks[i] = 0
                computed[i] = 0
                epoch[i] += 1
                mode[i] = WAITING
                waiting.appendleft(i)
                preemptions += 1
                continue
            take = grant(i)
            free -= take
            blocks[i] += take
            heapq.heappush(block_events, (g + take * block, e, i))
        token_budget = budget - decoding
        scheduled: list[tuple[int, int]] = []
        prefill_flops = 0.0
        prefill_kv = 0.0
        rows = decoding
        for i in list(prefilling):
            if mode[i] != PREFILL or token_budget <= 0:
                continue
            todo = prompt[i] + generated[i] - computed[i]
            want = min(todo, token_budget)
            need = blocks_for(computed[i] + want) - blocks[i]
            while need > free and preempt_newest(i):
                pass
            if need > free:
                continue
            free -= need
            blocks[i] += need
            scheduled.append((i, want))
            token_budget -= want
            prefill_flops += model.prefill_attention_flops(want, computed[i])
            prefill_kv += computed[i] + want
            if want == todo:
                rows += 1
        stalled = False
        while waiting and token_budget > 0 and decoding + len(prefilling) < max_seqs:
            i = waiting[0]
            todo = prompt[i] + generated[i] - computed[i]
            want = min(todo, token_budget)
            need = blocks_for(computed[i] + want) - blocks[i]
            if need > free:
                stalled = True
                break
            waiting.popleft()
            free -= need
            blocks[i] += need
            mode[i] = PREFILL
            prefilling.append(i)
            order.append((i, epoch[i]))
            if admitted[i] < 0:
                admitted[i] = now
            scheduled.append((i, want))
            token_budget -= want
            prefill_flops += model.prefill_attention_flops(want, computed[i])
            prefill_kv += computed[i] + want
            if want == todo:
                rows += 1
        if stalled:
            iterations_kv_limited += 1
        if not scheduled and not decoding:
            break  # nothing can run: the cache holds less than any waiting request
        max_used = max(max_used, total_blocks - free)
        prefill_tokens = sum(w for _, w in scheduled)
        tokens = decoding + prefill_tokens

        steps = 1
        if not scheduled:
            # decode-only: advance to the next completion, block shortage or admission chance
            horizon = finish_events[0][0] - g if finish_events else 1
            while block_events and block_events[0][0] < g + horizon:
                need_at, e, i = block_events[0]
                if epoch[i] != e or mode[i] != DECODE:
                    heapq.heappop(block_events)
                    continue
                if free <= 0:
                    horizon = need_at - g
                    break
                heapq.heappop(block_events)
                take = grant(i)
                free -= take
                blocks[i] += take
                heapq.heappush(block_events, (need_at + take * block, e, i))
            max_used = max(max_used, total_blocks - free)
            can_admit = not waiting or (decoding + len(prefilling) < max_seqs and not stalled)
            if pending and can_admit and horizon > 1:
                horizon = min(
                    horizon,
                    model.decode_steps_within(
                        decoding, context_sum + decoding, pending[0][0] - now
                    ),
                )
            steps = max(1, horizon)
            elapsed = model.decode_stretch(decoding, context_sum + decoding, steps)
        else:
            elapsed = model.seconds(tokens, rows, context_sum + decoding, prefill_flops, prefill_kv)
        if model.is_compute_bound(tokens):
            compute_iters += steps
        running_area += (decoding + len(prefilling)) * elapsed
        now += elapsed
        g += steps
        context_sum += decoding * steps

        # ---- prefill chunks done: first tokens, decode entry
        for i, want in scheduled:
            computed[i] += want
            if computed[i] >= prompt[i] + generated[i]:
                generated[i] += 1
                if first[i] < 0:
                    first[i] = now
                prefilling.remove(i)
                if generated[i] >= output[i]:
                    mode[i] = DONE
                    finish[i] = now
                    free += blocks[i]
                    blocks[i] = 0
                    done += 1
                    in_flight -= 1
                else:
                    start_decode(i)
        # ---- completions
        while finish_events and finish_events[0][0] <= g:
            _, e, i = heapq.heappop(finish_events)
            if epoch[i] != e or mode[i] != DECODE:
                continue
            materialize(i)
            mode[i] = DONE
            finish[i] = now
            free += blocks[i]
            blocks[i] = 0
            done += 1
            in_flight -= 1
        release(now)

    for i in range(n):  # anything the iteration cap cut off
        if finish[i] < 0 and not dropped_flag[i]:
            dropped_flag[i] = True
            if "the simulation stopped at its iteration limit" not in reasons:
                reasons.append("the simulation stopped at its iteration limit")
    completed = [i for i in range(n) if finish[i] >= 0]
    ttft = [first[i] - arrival[i] + engine.request_overhead_s for i in completed]
    tpot = [(finish[i] - first[i]) / (output[i] - 1) for i in completed if output[i] > 1]
    e2e = [finish[i] - arrival[i] for i in completed]
    queue = [admitted[i] - arrival[i] for i in completed]
    start = min((arrival[i] for i in completed), default=0.0)
    end = max((finish[i] for i in completed), default=0.0)
    duration = max(end - start, 1e-12)
    out_tokens = sum(output[i] for i in completed)
    per_user = [
        (output[i] - 1) / (finish[i] - first[i])
        for i in completed
        if output[i] > 1 and finish[i] > first[i]
    ]
    return SimulationResult(
        requests=n,
        completed=len(completed),
        dropped=sum(dropped_flag),
        preemptions=preemptions,
        ttft_s=_percentiles(ttft),
        tpot_s=_percentiles(tpot),
        e2e_s=_percentiles(e2e),
        queue_s=_percentiles(queue),
        duration_s=duration,
        output_tokens_per_second=out_tokens / duration if completed else 0.0,
        output_tokens_per_second_per_user=sum(per_user) / len(per_user) if per_user else 0.0,
        mean_running=running_area / duration if completed else 0.0,
        max_blocks_used=max_used,
        kv_blocks=total_blocks,
        iterations=g,
        compute_bound_share=compute_iters / max(1, g),
        kv_limited_share=iterations_kv_limited / max(1, passes),
        dropped_reasons=reasons,
        ttft_mean_s=sum(ttft) / len(ttft) if ttft else 0.0,
        tpot_mean_s=sum(tpot) / len(tpot) if tpot else 0.0,
    )


# --------------------------------------------------------------------------------------------
# Capacity


@dataclass(frozen=True)
class Targets:
    ttft_p90_s: float
    tpot_p99_s: float

    def met(self, result: SimulationResult) -> bool:
        return (
            result.dropped == 0
            and result.ttft_s["p90"] <= self.ttft_p90_s
            and result.tpot_s["p99"] <= self.tpot_p99_s
        )


CAPACITY_SEARCH_REQUESTS = 200  # per trial rate: p90 is the 20th-worst, p99 the 2nd-worst
CAPACITY_SEARCH_STEPS = 6  # bisection steps: the rate to within 1/64 of the bracket


@dataclass(frozen=True)
class Capacity:
    """The highest Poisson request rate one replica sustains within the targets."""

    max_request_rate: float
    saturation_request_rate: float
    saturation_output_tokens_per_second: float
    reason: str | None  # why the rate is 0, if it is


def saturation(
    setup: ServingSetup,
    traffic: TrafficSpec,
    model: IterationModel,
    capacity: KvCapacity,
    requests: int = CAPACITY_SEARCH_REQUESTS,
) -> SimulationResult:
    """The replica kept full: as many closed-loop users as the engine runs sequences (or as
    the KV cache holds, plus one)."""
    per_request = traffic.prompt_tokens + traffic.output_tokens
    seats = max(1, min(ENGINES[setup.engine].max_num_seqs, capacity.tokens // per_request + 1))
    closed = replace(
        traffic,
        request_rate=None,
        concurrency=seats,
        num_requests=max(requests, 2 * seats),
    )
    return simulate(setup, closed, model=model, capacity=capacity)


def max_request_rate(
    setup: ServingSetup,
    traffic: TrafficSpec,
    targets: Targets,
    model: IterationModel,
    capacity: KvCapacity,
    requests: int = CAPACITY_SEARCH_REQUESTS,
    steps: int = CAPACITY_SEARCH_STEPS,
) -> Capacity:
    """Bisection on the Poisson rate between 0 and the saturation rate: the largest rate whose
    simulated p90 TTFT and p99 TPOT meet the targets (bounded: `steps` simulations)."""
    full = saturation(setup, traffic, model, capacity, requests)
    mean_out = traffic.output_tokens
    sat_rate = full.output_tokens_per_second / max(1.0, mean_out) if full.completed else 0.0
    if full.completed == 0:
        return Capacity(0.0, 0.0, 0.0, "; ".join(full.dropped_reasons) or "nothing completed")
    base = replace(traffic, concurrency=None, num_requests=requests)
    lone = simulate(
        setup,
        replace(traffic, request_rate=None, concurrency=1, num_requests=8),
        model=model,
        capacity=capacity,
    )
    if not targets.met(lone):
        why = []
        if lone.ttft_s["p90"] > targets.ttft_p90_s:
            why.append(f"TTFT alone is {lone.ttft_s['p90']:.3g} s > {targets.ttft_p90_s:g} s")
        if lone.tpot_s["p99"] > targets.tpot_p99_s:
            why.append(f"TPOT alone is {lone.tpot_s['p99']:.3g} s > {targets.tpot_p99_s:g} s")
        if lone.dropped:
            why += lone.dropped_reasons
        return Capacity(0.0, sat_rate, full.output_tokens_per_second, "; ".join(why))
    low, high = 0.0, sat_rate * 1.05
    for _ in range(steps):
        mid = (low + high) / 2
        trial = simulate(setup, replace(base, request_rate=mid), model=model, capacity=capacity)
        if targets.met(trial):
            low = mid
        else:
            high = mid
    return Capacity(low, sat_rate, full.output_tokens_per_second, None)


def curve(
    setup: ServingSetup,
    traffic: TrafficSpec,
    model: IterationModel,
    capacity: KvCapacity,
    max_points: int = 9,
) -> list[SimulationResult]:
    """Closed-loop runs at concurrency 1, 2, 4, ... up to the engine's sequence limit: the
    throughput-versus-interactivity curve (per-GPU output tokens/s against per-user tokens/s)."""
    seats = ENGINES[setup.engine].max_num_seqs
    out: list[SimulationResult] = []
    c = 1
    while c <= seats and len(out) < max_points:
        run = replace(
            traffic, request_rate=None, concurrency=c, num_requests=min(300, max(3 * c, 24))
        )
        out.append(simulate(setup, run, model=model, capacity=capacity))
        c *= 2
    return out


def static_batch_estimate(
    setup: ServingSetup, model: IterationModel, prompt_tokens: int, output_tokens: int, batch: int
) -> tuple[float, float, float]:
    """The static-batch roofline the estimator used before: prefill of `batch` prompts at once,
    then `output_tokens` decode steps at the mean context. (TTFT s, TPOT s, output tokens/s)."""
    tokens = batch * prompt_tokens
    flops = batch * model.prefill_attention_flops(prompt_tokens, 0)
    ttft = model.seconds(tokens, batch, 0.0, flops, float(tokens))
    mean_context = prompt_tokens + max(1, output_tokens) // 2
    tpot = model.seconds(batch, batch, float(batch * mean_context))
    total = ttft + (output_tokens - 1) * tpot
    return ttft, tpot, batch * output_tokens / total
