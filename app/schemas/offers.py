"""GET /api/v1/offers: rentable instances as the API returns them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class OfferFilters:
    """Query filters of GET /api/v1/offers (None: no filter)."""

    gpu: str | None = None
    provider: str | None = None
    min_gpus: int | None = None
    max_gpus: int | None = None
    max_usd_per_gpu_hour: float | None = None


class OfferSourceRead(BaseModel):
    title: str
    url: str
    retrieved: dt.date
    note: str | None = None


class OfferRead(BaseModel):
    """One rentable instance type with its dated on-demand price per instance and per GPU."""

    provider: str
    instance: str
    gpu: str
    gpus_per_instance: int
    vcpus: int | None = None
    host_memory_gb: float | None = None
    interconnect: str | None = None
    network_gbps_per_gpu: float | None = None
    multi_node: bool
    usd_per_instance_hour: float | None = None
    usd_per_gpu_hour: float | None = None
    spot_usd_per_instance_hour: float | None = None
    reserved_usd_per_instance_hour: float | None = None
    regions: list[str]
    observed: dt.date
    stale: bool = Field(description="Observed more than 12 months ago.")
    source: OfferSourceRead


class OfferPage(BaseModel):
    items: list[OfferRead]
    total: int = Field(description="How many offers match the filters in all.")
    limit: int
    offset: int
