"""Which GPU counts can actually be assembled, and how GPUs without peer-to-peer talk.

- Cards per host: consumer and workstation boards are limited by slots, power supplies and
  cooling; without a catalog figure at most `DEFAULT_MAX_PER_HOST` of them are assumed in one
  host (a stated assumption: 4 double-slot cards is what ATX/E-ATX workstation boards with four
  x16 slots hold), and they never span hosts (no fast fabric between consumer machines).
- Peer-to-peer: GeForce cards since the 40 series and consumer Radeons do not support GPU
  peer-to-peer over PCIe; a transfer is copied into host memory and out again (NVIDIA CUDA
  samples, p2pBandwidthLatencyTest: "P2P=Disabled" rows stage through the host). The estimate's
  communication takes this from the GPU record's `peer_to_peer` (GpuSpec); here it only decides
  the warning an option carries.
"""

from __future__ import annotations

DEFAULT_MAX_PER_HOST = {"consumer": 4, "workstation": 4, "datacenter": 8}


def max_per_host(segment: str, stated: int | None) -> int:
    """GPUs of this model one host can hold: the catalog's figure, else the segment default."""
    if stated is not None:
        return stated
    return DEFAULT_MAX_PER_HOST.get(segment, 8)


def peer_to_peer(segment: str, stated: bool | None) -> bool:
    """Whether GPUs of this model exchange data directly; unknown consumer cards are assumed
    not to (the GeForce 40/50 series and consumer Radeons do not)."""
    if stated is not None:
        return stated
    return segment != "consumer"


def multi_node_realistic(segment: str) -> bool:
    """Whether a job may span hosts: only datacenter GPUs ship in nodes on a fast fabric."""
    return segment == "datacenter"
