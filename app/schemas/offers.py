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
    """The page or data set the offer's prices were read from."""

    title: str = Field(description="Title of the price page or data set.")
    url: str = Field(description="Where it is (URL).")
    retrieved: dt.date = Field(description="When it was read (date).")
    note: str | None = Field(
        None, description="A caveat about the prices; None when there is none."
    )


class OfferRead(BaseModel):
    """One rentable instance type with its dated on-demand price per instance and per GPU."""

    provider: str = Field(description="Provider id, e.g. aws, lambda.")
    instance: str = Field(description="The provider's name for the instance type.")
    gpu: str = Field(description="Catalog GPU id of the instance's GPUs.")
    gpus_per_instance: int = Field(description="GPUs in one instance (count).")
    vcpus: int | None = Field(
        None, description="Virtual CPUs per instance (count); None: unlisted."
    )
    host_memory_gb: float | None = Field(
        None, description="Host (CPU) memory per instance, GB; None: unlisted."
    )
    interconnect: str | None = Field(
        None, description="GPU-to-GPU link inside the instance, e.g. nvlink; None: unlisted."
    )
    network_gbps_per_gpu: float | None = Field(
        None, description="Network bandwidth between instances per GPU, Gbit/s; None: unlisted."
    )
    multi_node: bool = Field(description="Several instances can be joined into one job.")
    usd_per_instance_hour: float | None = Field(
        None, description="On-demand price per instance-hour, USD; None: no on-demand price."
    )
    usd_per_gpu_hour: float | None = Field(
        None, description="On-demand price per GPU-hour, USD (instance price / GPUs)."
    )
    spot_usd_per_instance_hour: float | None = Field(
        None, description="Spot (interruptible) price per instance-hour, USD; None: none listed."
    )
    reserved_usd_per_instance_hour: float | None = Field(
        None, description="Reserved (committed) price per instance-hour, USD; None: none listed."
    )
    regions: list[str] = Field(description="Regions the instance is offered in.")
    observed: dt.date = Field(description="When the price was read (date).")
    stale: bool = Field(description="Observed more than 12 months ago.")
    source: OfferSourceRead = Field(description="Where the prices were read.")


class OfferPage(BaseModel):
    """One page of offers, cheapest per GPU-hour first."""

    items: list[OfferRead] = Field(description="The offers of this page.")
    total: int = Field(description="How many offers match the filters in all.")
    limit: int = Field(description="Page size asked for.")
    offset: int = Field(description="Rows skipped before this page.")
