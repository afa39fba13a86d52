"""Tables filled from catalog/offers/*.yaml by the catalog sync: providers and instance offers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Provider(Base):
    """A company that rents GPU instances (catalog/offers/providers.yaml)."""

    __tablename__ = "providers"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)


class Offer(Base):
    """One rentable instance type: G GPUs of one catalog GPU at a dated on-demand price."""

    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("provider", "instance", "gpu_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(40), index=True)
    instance: Mapped[str] = mapped_column(String(120))
    gpu_id: Mapped[str] = mapped_column(ForeignKey("gpus.id", ondelete="CASCADE"), index=True)
    gpus_per_instance: Mapped[int] = mapped_column(Integer, index=True)
    vcpus: Mapped[int | None] = mapped_column(Integer)
    host_memory_gb: Mapped[float | None] = mapped_column(Float)
    interconnect: Mapped[str | None] = mapped_column(Text)
    network_gbps_per_gpu: Mapped[float | None] = mapped_column(Float)
    multi_node: Mapped[bool] = mapped_column(Boolean)
    usd_per_instance_hour: Mapped[float | None] = mapped_column(Float)
    # Derived (instance price / GPUs) and stored so the list filters and sorts on it in SQL.
    usd_per_gpu_hour: Mapped[float | None] = mapped_column(Float, index=True)
    spot_usd_per_instance_hour: Mapped[float | None] = mapped_column(Float)
    reserved_usd_per_instance_hour: Mapped[float | None] = mapped_column(Float)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    observed: Mapped[dt.date] = mapped_column()
    source_title: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    source_retrieved_on: Mapped[dt.date] = mapped_column()
    source_note: Mapped[str | None] = mapped_column(Text)
    # sha256 of the offer as validated; the sync compares it to skip unchanged offers.
    content_sha256: Mapped[str] = mapped_column(String(64))
