"""The hardware side of an estimate: a GPU's peak figures, and how much of them is achievable.

`GpuSpec` carries catalog figures (dense peaks, memory, bandwidth, links, power). `Efficiency`
says what fraction of those peaks real kernels reach, and how that depends on an op's size;
it comes from probe measurements of the GPU model when there are some, else from published
micro-benchmarks (catalog/efficiency.yaml), else from the vendor-wide defaults below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.estimator.collectives import HOST_STAGED_FACTOR, PCIE_FRACTION, Fabric
from app.estimator.units import GB, GIB, TERA

# PCIe x16 bandwidth per direction, GB/s, by generation (PCI-SIG: 8, 16, 32, 64 GT/s per lane
# for gen 3-6, 128b/130b encoding; gen 6 uses FLIT mode at the same nominal rate).
PCIE_X16_GB_S = {1: 4.0, 2: 8.0, 3: 15.75, 4: 31.5, 5: 63.0, 6: 121.0, 7: 242.0}

# Scale-out (inter-node) network per GPU, Gb/s per direction, as the reference systems ship:
# DGX H100/H200/B200 have one 400 Gb/s ConnectX-7 port per GPU for the compute fabric (NVIDIA
# DGX H100 and DGX B200 datasheets); DGX A100 one 200 Gb/s HDR port per GPU (DGX A100
# datasheet); AMD MI300X platforms one 400 Gb/s NIC per GPU (e.g. Azure ND MI300X v5: 8 x 400
# Gb/s InfiniBand per VM). Anything else is assumed to have 100 Gb/s per GPU, and says so.
NETWORK_GBPS_PER_GPU_BY_ARCHITECTURE = {
    "Blackwell": 400.0,
    "Blackwell Ultra": 400.0,
    "Hopper": 400.0,
    "Ampere": 200.0,
    "CDNA 3": 400.0,
    "CDNA 4": 400.0,
}
DEFAULT_NETWORK_GBPS_PER_GPU = 100.0
GPUS_PER_NODE = 8  # HGX/DGX, OAM (MI300X platform), Gaudi HLS: eight accelerators per node
# Share of the board power that does not scale with the clock (leakage, memory, fans): an idle
# H100 SXM draws ~ 70 of its 700 W in nvidia-smi; taken as 10% for every board (assumption).
STATIC_POWER_SHARE = 0.10
# Workstations and consumer towers: up to four double-width cards on one board (assumption).
WORKSTATION_GPUS_PER_NODE = 4


@dataclass(frozen=True)
class GpuSpec:
    """One GPU model's datasheet figures (dense peaks in TFLOP/s, bytes in GB = 10^9)."""

    id: str
    name: str
    vendor: str
    architecture: str
    segment: str
    memory_gib: float  # device memory as marketed ("80GB" = 80 GiB, see memory_capacity_bytes)
    memory_bandwidth_gb_s: float
    peak_tflops: dict[str, float | None]
    tdp_w: float
    platform: str
    interconnect_type: str | None = None
    interconnect_bandwidth_gb_s: float | None = None
    pcie_gen: int | None = None
    scale_out_gb_s: float | None = None  # per GPU between nodes, GB/s (the request's override)
    gpus_per_node: int | None = None  # None: GPUS_PER_NODE for datacenter parts, else 4
    network_gbps_per_gpu: float | None = None  # None: by architecture (see above)
    peer_to_peer: bool | None = None  # False: PCIe transfers are staged through host memory
    power_limit_w: float | None = None  # None: the board's TDP

    def node_size(self, count: int) -> int:
        """GPUs per node for a job of `count` GPUs: the request's figure, else the class
        default (8 on datacenter boards, 4 in workstations) reduced to a divisor of `count`."""
        if self.gpus_per_node:
            return self.gpus_per_node
        default = GPUS_PER_NODE if self.segment == "datacenter" else WORKSTATION_GPUS_PER_NODE
        return math.gcd(count, default) if count > 1 else 1

    @property
    def network_gb_s_per_gpu(self) -> float:
        """Scale-out bandwidth per GPU, GB/s per direction (Gb/s / 8)."""
        if self.network_gbps_per_gpu:
            return self.network_gbps_per_gpu / 8
        if self.scale_out_gb_s:
            return self.scale_out_gb_s
        if self.segment == "datacenter":
            gbps = NETWORK_GBPS_PER_GPU_BY_ARCHITECTURE.get(
                self.architecture, DEFAULT_NETWORK_GBPS_PER_GPU
            )
            return gbps / 8
        return DEFAULT_NETWORK_GBPS_PER_GPU / 8

    @property
    def memory_capacity_bytes(self) -> float:
        """Device memory. Vendors' "80GB" means 80 GiB (e.g. an H100 80GB reports 81,559 MiB
        total in nvidia-smi, of which the driver reserves a little), so capacity is taken as
        memory_gib GiB."""
        return self.memory_gib * GIB

    @property
    def board_power_w(self) -> float:
        """The power the board runs at: the request's cap, else the TDP."""
        return self.power_limit_w or self.tdp_w

    @property
    def clock_derate(self) -> float:
        """Sustained-clock factor under a power cap below the TDP. Dynamic power is C V^2 f and
        the voltage tracks the clock in the DVFS range, so the dynamic part goes as f^3 (the
        standard CMOS relation); the static part (STATIC_POWER_SHARE of the TDP) does not
        scale: f / f_tdp = ((cap - static) / (TDP - static))^(1/3). For an H100 at 600 of 700 W
        that is 0.94, in line with the 5-8% throughput loss reported for that cap (Factryze,
        "Power capping"); at 500 W, 0.88."""
        if not self.power_limit_w or not self.tdp_w or self.power_limit_w >= self.tdp_w:
            return 1.0
        static = STATIC_POWER_SHARE * self.tdp_w
        return float(((self.power_limit_w - static) / (self.tdp_w - static)) ** (1.0 / 3.0))

    def peak_flops(self, precision: str) -> tuple[float, str]:
        """Dense peak FLOP/s for matrix math in `precision` (at the sustained clock of the
        power cap, if any), and the precision actually used (falling back when the chip lacks
        it: fp8 -> bf16/fp16, tf32 -> fp32, bf16 -> fp16)."""
        fallbacks = {
            "fp8": ("fp8", "bf16", "fp16", "fp32"),
            "bf16": ("bf16", "fp16", "fp32"),
            "fp16": ("fp16", "bf16", "fp32"),
            "tf32": ("tf32", "fp32"),
            "fp32": ("fp32",),
        }[precision]
        for candidate in fallbacks:
            value = self.peak_tflops.get(candidate)
            if value:
                return value * TERA * self.clock_derate, candidate
        raise ValueError(f"{self.id} has no throughput figure for {precision}")

    @property
    def bandwidth_bytes_s(self) -> float:
        return self.memory_bandwidth_gb_s * GB

    @property
    def pcie_gb_s(self) -> float:
        return PCIE_X16_GB_S.get(self.pcie_gen or 3, PCIE_X16_GB_S[3])

    def intra_node_link_gb_s(self, group: int = GPUS_PER_NODE) -> float:
        """Per-direction GPU-to-GPU bandwidth for a group of `group` GPUs in one node: the
        scale-up link (the catalog gives it bidirectional, so half of it), else PCIe x16 of the
        card's generation. An NVLink bridge joins pairs only; larger groups meet on PCIe."""
        link = self.interconnect_bandwidth_gb_s
        kind = self.interconnect_type
        if not link or kind in (None, "pcie"):
            return self.pcie_gb_s
        if kind == "nvlink-bridge" and group > 2:
            return self.pcie_gb_s
        return link / 2

    @property
    def inter_node_link_gb_s(self) -> float:
        return self.network_gb_s_per_gpu

    def fabric(self, count: int, allreduce_fraction: float) -> Fabric:
        """The links of a `count`-GPU job: the GPU's own link inside a node (PCIe staged
        through the host without peer-to-peer), the per-GPU network between nodes."""
        node = self.node_size(count)
        intra = self.intra_node_link_gb_s(node)
        fraction = allreduce_fraction
        on_pcie = not self.interconnect_bandwidth_gb_s or self.interconnect_type in (None, "pcie")
        if on_pcie or (self.interconnect_type == "nvlink-bridge" and node > 2):
            fraction = PCIE_FRACTION * (HOST_STAGED_FACTOR if self.peer_to_peer is False else 1.0)
        return Fabric(
            gpus_per_node=node,
            intra_node_gb_s=intra,
            intra_node_fraction=fraction,
            network_gb_s_per_gpu=self.network_gb_s_per_gpu,
        )


@dataclass(frozen=True)
class GemmPoint:
    """One measured dense GEMM C[m, n] = A[m, k] @ B[k, n] in `dtype`, reaching `achieved_tflops`."""

    m: int
    n: int
    k: int
    dtype: str
    achieved_tflops: float


@dataclass(frozen=True)
class AttentionPoint:
    """One measured causal attention forward at `seq_len` tokens and `head_dim`, via `implementation`
    ("fused": cuDNN/FlashAttention-class kernel; "unfused": XLA ops with the score matrix in memory)."""

    seq_len: int
    head_dim: int
    dtype: str
    implementation: str
    achieved_tflops: float


@dataclass(frozen=True)
class Efficiency:
    """Achievable fractions of peak, and fixed per-kernel times, for one GPU and precision.

    A kernel of F FLOPs moving B bytes takes
        t = overhead_s + max(F / (peak x matmul_fraction), B / (bandwidth x bandwidth_fraction))
    (a roofline, Williams et al. 2009, plus a fixed launch/ramp time): small ops reach a small
    share of peak, large ones approach `matmul_fraction`, as measured matmul size sweeps show.
    """

    matmul_fraction: float  # of the dense matrix peak, for large matmuls
    bandwidth_fraction: float  # of the datasheet memory bandwidth
    attention_fraction: float  # of the dense matrix peak, for fused attention
    overhead_s: float
    allreduce_fraction: float
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    memory_op_overhead_s: float | None = None  # bandwidth-bound ops; None = overhead_s
    # fp8 matmuls reach their own share of the fp8 peak (MAMF fp8 table: 0.71-0.78 on NVIDIA,
    # below the bf16 0.73-0.87); None = matmul_fraction.
    fp8_matmul_fraction: float | None = None
    gemm_sweep: tuple[GemmPoint, ...] = ()
    attention_sweep: tuple[AttentionPoint, ...] = ()

    def matmul_fraction_for(self, precision: str) -> float:
        """Large-matmul share of the dense peak of `precision`."""
        if precision == "fp8" and self.fp8_matmul_fraction:
            return self.fp8_matmul_fraction
        return self.matmul_fraction

    def measured_gemm_tflops(self, m: int, n: int, k: int, dtype: str) -> float | None:
        """Achieved TFLOP/s of the measured GEMM (probes' size sweep of this GPU model) nearest
        in shape to m x n x k (distance: sum of |log| ratios of the three dimensions); None
        without a sweep in `dtype`."""
        points = [p for p in self.gemm_sweep if p.dtype == dtype]
        if not points or min(m, n, k) <= 0:
            return None

        def distance(p: GemmPoint) -> float:
            return abs(math.log(p.m / m)) + abs(math.log(p.n / n)) + abs(math.log(p.k / k))

        return min(points, key=distance).achieved_tflops

    def measured_attention_tflops(self, seq_len: int, head_dim: int, dtype: str) -> float | None:
        """Achieved TFLOP/s of the measured fused attention nearest in sequence length and head
        dimension; None without fused points in `dtype`."""
        points = [
            p for p in self.attention_sweep if p.dtype == dtype and p.implementation == "fused"
        ]
        if not points or seq_len <= 0 or head_dim <= 0:
            return None

        def distance(p: AttentionPoint) -> float:
            return abs(math.log(p.seq_len / seq_len)) + abs(math.log(p.head_dim / head_dim))

        return min(points, key=distance).achieved_tflops

    def __post_init__(self) -> None:
        for name in (
            "matmul_fraction",
            "bandwidth_fraction",
            "attention_fraction",
            "allreduce_fraction",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")


# Defaults when neither probes nor published micro-benchmarks cover a GPU. Matmul fractions are
# the medians of the best-shape BF16 GEMM results in catalog/efficiency.yaml by vendor (Stas
# Bekman's MAMF table: NVIDIA A100/H100/B200 0.73-0.87; AMD MI300X/MI325X/MI355X 0.51-0.68);
# bandwidth from BabelStream triad results (A100 1.70 of 2.04 TB/s, H100 2.97 of 3.35,
# MI300X 4.09 of 5.3: 0.77-0.89); all-reduce bus bandwidth of 8-GPU NVLink nodes in nccl-tests
# (A100 232 of 300 GB/s per direction, 0.77); flash attention reaches 50-73% of A100 peak in
# the forward pass and somewhat less in the backward (Dao 2023, "FlashAttention-2", fig. 5-6),
# so 0.6 of peak over both. fp8 (NVIDIA only): the median of the MAMF fp8 table's H100, H200,
# GH200, B200, B300 and GB200 rows (0.71-0.78 of the fp8 dense peak); AMD and Intel parts without
# a published fp8 sweep use their 16-bit fraction.
VENDOR_DEFAULTS: dict[str, dict[str, float]] = {
    "nvidia": {
        "matmul": 0.80,
        "fp8_matmul": 0.74,
        "bandwidth": 0.85,
        "attention": 0.60,
        "allreduce": 0.77,
    },
    "amd": {"matmul": 0.60, "bandwidth": 0.77, "attention": 0.60, "allreduce": 0.70},
    "intel": {"matmul": 0.70, "bandwidth": 0.80, "attention": 0.60, "allreduce": 0.70},
}
# Fused attention by architecture, as a fraction of the dense 16-bit peak over forward and
# backward: FlashAttention-2 reaches 50-73% of A100 peak forward and less backward (Dao 2023,
# "FlashAttention-2", fig. 5-6), ~ 0.55 overall; on Hopper it reaches only ~ 35% (Shah et al.
# 2024, "FlashAttention-3", sec. 1), the kernel most frameworks ran there until FA3/cuDNN.
ATTENTION_FRACTION_BY_ARCHITECTURE = {
    "Ampere": 0.55,
    "Ada Lovelace": 0.55,
    "Hopper": 0.35,
    "Blackwell": 0.35,
    "Blackwell Ultra": 0.35,
}
# Fixed time per kernel: launch plus ramp-up/tail. Fitted to published size sweeps: H100 FP8 at
# M=N=K=1024 reaches ~ 280 TFLOP/s against ~ 1,500 TFLOP/s at large sizes (Azure AI benchmarking
# guide, in catalog/efficiency.yaml) -> 2.15 GFLOP in 7.7 us = 1.4 us of math + ~ 6 us fixed.
DEFAULT_KERNEL_OVERHEAD_S = 6e-6


def default_efficiency(
    gpu: GpuSpec, *, matmul_fraction: float | None = None, source: str | None = None
) -> Efficiency:
    """Vendor defaults, optionally with a published matmul fraction for this GPU."""
    defaults = VENDOR_DEFAULTS.get(gpu.vendor, VENDOR_DEFAULTS["nvidia"])
    return Efficiency(
        matmul_fraction=min(1.0, matmul_fraction or defaults["matmul"]),
        bandwidth_fraction=defaults["bandwidth"],
        attention_fraction=ATTENTION_FRACTION_BY_ARCHITECTURE.get(
            gpu.architecture, defaults["attention"]
        ),
        overhead_s=DEFAULT_KERNEL_OVERHEAD_S,
        allreduce_fraction=defaults["allreduce"],
        fp8_matmul_fraction=defaults.get("fp8_matmul"),
        source=source or f"default:{gpu.vendor} median of published GEMM/stream benchmarks",
    )
