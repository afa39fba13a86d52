"""Tables filled from catalog/*.yaml by the catalog sync: GPUs, their sources and prices."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base


class Gpu(Base):
    """One catalog GPU; throughput columns are dense peaks, never the with-sparsity figures."""

    __tablename__ = "gpus"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    architecture: Mapped[str] = mapped_column(String(80))
    segment: Mapped[str] = mapped_column(String(16), index=True)
    form_factor: Mapped[str] = mapped_column(String(16))
    release_date: Mapped[str | None] = mapped_column(String(10))
    memory_gb: Mapped[float] = mapped_column(Float, index=True)
    memory_type: Mapped[str] = mapped_column(String(16))
    memory_bus_width_bits: Mapped[int | None] = mapped_column(Integer)
    memory_bandwidth_gb_s: Mapped[float] = mapped_column(Float)
    fp64_dense_tflops: Mapped[float | None] = mapped_column(Float)
    fp64_matrix_dense_tflops: Mapped[float | None] = mapped_column(Float)
    fp32_dense_tflops: Mapped[float | None] = mapped_column(Float)
    tf32_dense_tflops: Mapped[float | None] = mapped_column(Float)
    bf16_dense_tflops: Mapped[float | None] = mapped_column(Float)
    fp16_dense_tflops: Mapped[float | None] = mapped_column(Float)
    fp8_dense_tflops: Mapped[float | None] = mapped_column(Float)
    int8_dense_tops: Mapped[float | None] = mapped_column(Float)
    fp4_dense_tflops: Mapped[float | None] = mapped_column(Float)
    tdp_w: Mapped[float | None] = mapped_column(Float)
    pcie_gen: Mapped[int | None] = mapped_column(Integer)
    interconnect_type: Mapped[str | None] = mapped_column(String(40))
    interconnect_bandwidth_gb_s: Mapped[float | None] = mapped_column(Float)
    interconnect_note: Mapped[str | None] = mapped_column(Text)
    launch_price_usd: Mapped[float | None] = mapped_column(Float)
    ecosystem_platform: Mapped[str] = mapped_column(String(16), index=True)
    compute_capability: Mapped[str | None] = mapped_column(String(16))
    rocm_supported: Mapped[bool | None] = mapped_column()
    supports_pytorch: Mapped[bool | None] = mapped_column()
    supports_jax: Mapped[bool | None] = mapped_column()
    supports_tensorflow: Mapped[bool | None] = mapped_column()
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # sha256 of the record as validated; the sync compares it to skip unchanged records.
    content_sha256: Mapped[str] = mapped_column(String(64))
    catalog_file: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    sources: Mapped[list[GpuSource]] = relationship(
        back_populates="gpu", cascade="all, delete-orphan", order_by="GpuSource.position"
    )
    prices: Mapped[list[Price]] = relationship(
        back_populates="gpu", cascade="all, delete-orphan", order_by="Price.position"
    )


class GpuSource(Base):
    """A document a GPU record's figures were copied or derived from."""

    __tablename__ = "gpu_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gpu_id: Mapped[str] = mapped_column(ForeignKey("gpus.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    retrieved_on: Mapped[dt.date] = mapped_column()
    fields: Mapped[list[str] | None] = mapped_column(JSON)
    location: Mapped[str | None] = mapped_column(Text)

    gpu: Mapped[Gpu] = relationship(back_populates="sources")


class Price(Base):
    """A dated price for one GPU: cloud $/GPU-hour or a purchase price, with its source."""

    __tablename__ = "prices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gpu_id: Mapped[str] = mapped_column(ForeignKey("gpus.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(40))
    instance: Mapped[str | None] = mapped_column(String(80))
    gpus_per_instance: Mapped[int | None] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(80))
    instance_usd_per_hour: Mapped[float | None] = mapped_column(Float)
    usd_per_gpu_hour: Mapped[float | None] = mapped_column(Float)
    purchase_usd: Mapped[float | None] = mapped_column(Float)
    observed: Mapped[str] = mapped_column(String(10))
    source_title: Mapped[str] = mapped_column(Text)
    source_url: Mapped[str] = mapped_column(Text)
    source_retrieved_on: Mapped[dt.date] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)

    gpu: Mapped[Gpu] = relationship(back_populates="prices")


class CatalogVersion(Base):
    """Each distinct catalog content synced into this database, newest last."""

    __tablename__ = "catalog_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    gpu_count: Mapped[int] = mapped_column(Integer)
    price_count: Mapped[int] = mapped_column(Integer)
    model_count: Mapped[int] = mapped_column(Integer)
    synced_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
