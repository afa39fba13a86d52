"""Queries on probe runs and results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, true, update
from sqlalchemy.orm import Session, selectinload

from app.models import ProbeResult, ProbeRun

ACTIVE = ("queued", "running")


def add_run(session: Session, run: ProbeRun) -> ProbeRun:
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> ProbeRun | None:
    stmt = select(ProbeRun).where(ProbeRun.id == run_id).options(selectinload(ProbeRun.results))
    return session.scalars(stmt).first()


def active_local_run(session: Session) -> ProbeRun | None:
    stmt = select(ProbeRun).where(ProbeRun.source == "local", ProbeRun.status.in_(ACTIVE))
    return session.scalars(stmt).first()


def active_runs(session: Session) -> Sequence[ProbeRun]:
    """Runs still queued or running (any source)."""
    return session.scalars(select(ProbeRun).where(ProbeRun.status.in_(ACTIVE))).all()


def mark_interrupted(
    session: Session, run_ids: Sequence[int], message: str, now: dt.datetime
) -> int:
    """Mark these runs interrupted if they are still active. Returns how many."""
    if not run_ids:
        return 0
    result = session.execute(
        update(ProbeRun)
        .where(ProbeRun.id.in_(run_ids), ProbeRun.status.in_(ACTIVE))
        .values(status="interrupted", message=message, finished_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def heartbeat(
    session: Session, run_id: int, progress: float | None = None, now: dt.datetime | None = None
) -> None:
    values: dict[str, object] = {"heartbeat_at": now or dt.datetime.now(dt.UTC)}
    if progress is not None:
        values["progress"] = progress
    session.execute(update(ProbeRun).where(ProbeRun.id == run_id).values(**values))


def add_results(session: Session, run: ProbeRun, results: list[ProbeResult]) -> None:
    run.results.extend(results)
    session.flush()


def _accepted() -> tuple[Any, ...]:
    """A run whose measurements count: it succeeded and nobody retracted it."""
    return (ProbeRun.status == "succeeded", ProbeRun.retracted_at.is_(None))


def results_for_gpu(session: Session, gpu_id: str) -> Sequence[ProbeResult]:
    """Measurements of accepted runs on this GPU model, newest run first."""
    stmt = (
        select(ProbeResult)
        .join(ProbeRun)
        .where(ProbeRun.gpu_id == gpu_id, *_accepted(), ProbeResult.error.is_(None))
        .order_by(ProbeRun.id.desc(), ProbeResult.id)
    )
    return session.scalars(stmt).all()


def latest_accepted_runs(
    session: Session, limit: int, gpu_ids: Sequence[str] | None = None
) -> dict[str, list[ProbeRun]]:
    """The newest `limit` accepted runs per GPU model (all models, or those in `gpu_ids`),
    with their results loaded, newest first."""
    ranked = (
        select(
            ProbeRun.id,
            func.row_number()
            .over(partition_by=ProbeRun.gpu_id, order_by=ProbeRun.id.desc())
            .label("rank"),
        )
        .where(ProbeRun.gpu_id.is_not(None), *_accepted())
        .where(ProbeRun.gpu_id.in_(gpu_ids) if gpu_ids is not None else true())
        .subquery()
    )
    stmt = (
        select(ProbeRun)
        .join(ranked, ranked.c.id == ProbeRun.id)
        .where(ranked.c.rank <= limit)
        .options(selectinload(ProbeRun.results))
        .order_by(ProbeRun.id.desc())
    )
    runs: dict[str, list[ProbeRun]] = {}
    for run in session.scalars(stmt).all():
        runs.setdefault(str(run.gpu_id), []).append(run)
    return runs


def list_runs(session: Session, limit: int = 50, gpu_id: str | None = None) -> Sequence[ProbeRun]:
    """The newest runs (without their results), optionally of one GPU model."""
    stmt = select(ProbeRun).order_by(ProbeRun.id.desc()).limit(limit)
    if gpu_id is not None:
        stmt = stmt.where(ProbeRun.gpu_id == gpu_id)
    return session.scalars(stmt).all()


def retract(session: Session, run: ProbeRun, by: str, now: dt.datetime) -> None:
    """Take a run out of every estimate (it stays readable, marked retracted)."""
    run.retracted_at = now
    run.retracted_by = by
    session.flush()


def results_for_gpu_as_dicts(session: Session, gpu_id: str) -> list[dict[str, object]]:
    return [
        {"run_id": r.run_id, "probe": r.probe, "dtype": r.dtype, "size": r.size, "tflops": r.tflops,
         "gb_s": r.gb_s, "median_s": r.median_s}
        for r in results_for_gpu(session, gpu_id)
    ]  # fmt: skip
