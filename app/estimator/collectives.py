"""Collective communication as NCCL runs it: latency + bytes on the wire / bus bandwidth.

A collective over n ranks moves, per rank (ring algorithms; Patarasuk & Yuan 2009, "Bandwidth
optimal all-reduce algorithms for clusters of workstations"; the nccl-tests "PERFORMANCE.md"
definition of bus bandwidth):
    all-reduce        2 (n-1)/n x S
    all-gather        (n-1)/n x S      (S = the gathered, full size)
    reduce-scatter    (n-1)/n x S      (S = the full size before scattering)
    all-to-all        (n-1)/n x S      (S = what one rank sends in total)
and takes `latency + traffic / bus_bandwidth`. The bus bandwidth depends on where the ranks sit
(`Fabric.bus_gb_s`): inside one node it is the GPU's own link (NVLink/xGMI through a switch, or
PCIe); across nodes NCCL runs one ring per NIC, so a group with k members in each node reaches
k x the per-GPU network bandwidth, capped by the intra-node link.

Achievable fractions of the nominal links, from published nccl-tests all_reduce_perf figures at
large messages (bus bandwidth):
- 8x H100 SXM NVLink only: 460-480 GB/s (NVLS) against 450 GB/s per direction; 8x A100 SXM:
  230-250 of 300 GB/s (0.77-0.83); 8x H100 PCIe without NVLink: 35-45 of 63 GB/s (~0.6)
  (Alaya AI, "NCCL-tests in practice", 2026, reference table);
- multi-node H100/H200 SXM with one NDR 400 Gb/s NIC per GPU: 400-450 GB/s; A100 SXM with HDR
  200 Gb/s per GPU: 250-300 GB/s (Saturn Cloud, "Validating multi-node GPU clusters with NCCL
  tests", expected bus bandwidth table) -- i.e. at or above 8 x the per-GPU NIC line rate
  (NCCL's hierarchical/NVLS-tree algorithms take part of the reduction off the network), so the
  network share is taken at its line rate (fraction 1.0 of k x NIC, capped by NVLink).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.estimator.units import GB

# Per-call start-up time of a collective: nccl-tests all_reduce_perf at 8 B reports ~ 10-30 us
# on one NVLink node; across nodes each ring/tree step adds a network hop of a few
# microseconds. Assumed: 20 us inside a node, plus 5 us x log2(nodes) across nodes (a stated
# assumption; the large-message bandwidth dominates every collective the estimator charges).
INTRA_NODE_LATENCY_S = 20e-6
INTER_NODE_HOP_LATENCY_S = 5e-6
# Achievable share of the nominal network line rate per NIC in bus-bandwidth terms (see module
# docstring: measured multi-node bus bandwidth is at or above k x NIC line rate).
NETWORK_FRACTION = 1.0
# PCIe through the host (cards without peer-to-peer, e.g. GeForce RTX 4090: NVIDIA disabled P2P
# on them): every byte crosses PCIe twice (GPU -> host memory -> GPU), so half the PCIe rate.
HOST_STAGED_FACTOR = 0.5
# 8x H100 PCIe without NVLink: 35-45 GB/s all-reduce bus bandwidth on PCIe Gen5 (63 GB/s per
# direction): 0.63 of the link (Alaya AI reference table, see the module docstring).
PCIE_FRACTION = 0.63


@dataclass(frozen=True)
class Fabric:
    """The links one GPU talks over: its own link inside a node (per direction, nominal) with
    the achievable fraction, and its share of the scale-out network between nodes."""

    gpus_per_node: int
    intra_node_gb_s: float  # per direction, nominal
    intra_node_fraction: float  # achievable bus bandwidth / nominal (nccl-tests)
    network_gb_s_per_gpu: float  # per direction, line rate of this GPU's NIC share

    def bus_gb_s(self, ranks: int, members_per_node: int) -> float:
        """Achievable bus bandwidth of a group of `ranks` GPUs with `members_per_node` of them in
        each node (1 = one member per node, e.g. data parallelism across tensor-parallel nodes)."""
        intra = self.intra_node_gb_s * self.intra_node_fraction
        if ranks <= members_per_node:
            return intra
        per_node = max(1, min(members_per_node, self.gpus_per_node))
        return min(intra, per_node * self.network_gb_s_per_gpu * NETWORK_FRACTION)

    def latency_s(self, ranks: int, members_per_node: int) -> float:
        nodes = math.ceil(ranks / max(1, members_per_node))
        if nodes <= 1:
            return INTRA_NODE_LATENCY_S
        return INTRA_NODE_LATENCY_S + INTER_NODE_HOP_LATENCY_S * math.log2(nodes)


def _seconds(traffic: float, ranks: int, members_per_node: int, fabric: Fabric) -> float:
    if ranks <= 1 or traffic <= 0:
        return 0.0
    bus = fabric.bus_gb_s(ranks, members_per_node) * GB
    return fabric.latency_s(ranks, members_per_node) + traffic / bus


def all_reduce_s(size_bytes: float, ranks: int, members_per_node: int, fabric: Fabric) -> float:
    """Ring all-reduce of `size_bytes`: 2 (n-1)/n x S on the wire per rank."""
    return _seconds(2.0 * (ranks - 1) / ranks * size_bytes, ranks, members_per_node, fabric)


def all_gather_s(full_bytes: float, ranks: int, members_per_node: int, fabric: Fabric) -> float:
    """All-gather that assembles `full_bytes` on every rank: (n-1)/n x S per rank."""
    return _seconds((ranks - 1) / ranks * full_bytes, ranks, members_per_node, fabric)


def reduce_scatter_s(full_bytes: float, ranks: int, members_per_node: int, fabric: Fabric) -> float:
    """Reduce-scatter of `full_bytes` into 1/n shards: (n-1)/n x S per rank."""
    return _seconds((ranks - 1) / ranks * full_bytes, ranks, members_per_node, fabric)


def all_to_all_s(sent_bytes: float, ranks: int, members_per_node: int, fabric: Fabric) -> float:
    """All-to-all where each rank sends `sent_bytes` in total, (n-1)/n of it to other ranks
    (MoE token dispatch or combine under expert parallelism; Lepikhin et al. 2020, GShard)."""
    return _seconds((ranks - 1) / ranks * sent_bytes, ranks, members_per_node, fabric)
