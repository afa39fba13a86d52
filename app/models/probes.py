"""Probe runs (local subprocess or a remote agent's submission) and their measurements."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base


class ProbeRun(Base):
    """One execution of `python -m probes run`: status, device, versions, and when."""

    __tablename__ = "probe_runs"
    # At most one local run in flight, enforced by the database (a partial unique index), so two
    # workers racing to start one cannot both succeed.
    __table_args__ = (
        Index(
            "uq_probe_runs_one_local_active",
            "source",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running') AND source = 'local'"),
            postgresql_where=text("status IN ('queued', 'running') AND source = 'local'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(
        String(16), index=True
    )  # queued running succeeded failed interrupted
    source: Mapped[str] = mapped_column(String(16))  # local | remote
    quick: Mapped[bool] = mapped_column(Boolean, default=False)
    only: Mapped[list[str] | None] = mapped_column(JSON)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    backend: Mapped[str | None] = mapped_column(String(16))
    device_kind: Mapped[str | None] = mapped_column(String(200))
    gpu_id: Mapped[str | None] = mapped_column(String(80), index=True)  # matched catalog id, if any
    device: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jax_version: Mapped[str | None] = mapped_column(String(40))
    submitted_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Written every few seconds by the process running it; a stale one means that process died.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The server process that started a local run (a random id per process start, its host and
    # pid) and the probe subprocess's pid: a restarted server recognises runs it cannot finish.
    owner_instance: Mapped[str | None] = mapped_column(String(64))
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    probe_pid: Mapped[int | None] = mapped_column(Integer)
    # A partition of a GPU (e.g. "MIG 1g.10gb"): never counted as the full GPU.
    partition: Mapped[str | None] = mapped_column(String(40))
    # Retracted runs stay readable but no longer feed any estimate.
    retracted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    retracted_by: Mapped[str | None] = mapped_column(String(80))

    results: Mapped[list[ProbeResult]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="ProbeResult.id"
    )


class ProbeResult(Base):
    """One measurement: a probe at a dtype and size, with its rate and timing spread."""

    __tablename__ = "probe_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("probe_runs.id", ondelete="CASCADE"), index=True)
    probe: Mapped[str] = mapped_column(String(40))
    dtype: Mapped[str | None] = mapped_column(String(20))
    size: Mapped[str | None] = mapped_column(String(80))
    tflops: Mapped[float | None] = mapped_column(Float)
    gb_s: Mapped[float | None] = mapped_column(Float)
    median_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    run: Mapped[ProbeRun] = relationship(back_populates="results")
