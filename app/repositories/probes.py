"""Queries on probe runs and results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select, update
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


def mark_stale_interrupted(session: Session, message: str, stale_before: dt.datetime) -> int:
    """Runs still queued/running whose heartbeat stopped before `stale_before` (their process
    died with the server): interrupted. Returns how many."""
    result = session.execute(
        update(ProbeRun)
        .where(ProbeRun.status.in_(ACTIVE))
        .where(or_(ProbeRun.heartbeat_at.is_(None), ProbeRun.heartbeat_at < stale_before))
        .values(status="interrupted", message=message, finished_at=dt.datetime.now(dt.UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def heartbeat(session: Session, run_id: int, progress: float | None = None) -> None:
    values: dict[str, object] = {"heartbeat_at": dt.datetime.now(dt.UTC)}
    if progress is not None:
        values["progress"] = progress
    session.execute(update(ProbeRun).where(ProbeRun.id == run_id).values(**values))


def add_results(session: Session, run: ProbeRun, results: list[ProbeResult]) -> None:
    run.results.extend(results)
    session.flush()


def results_for_gpu(session: Session, gpu_id: str) -> Sequence[ProbeResult]:
    """Measurements of succeeded runs on this GPU model, newest run first."""
    stmt = (
        select(ProbeResult)
        .join(ProbeRun)
        .where(
            ProbeRun.gpu_id == gpu_id, ProbeRun.status == "succeeded", ProbeResult.error.is_(None)
        )
        .order_by(ProbeRun.id.desc(), ProbeResult.id)
    )
    return session.scalars(stmt).all()


def latest_succeeded_run_id(session: Session, gpu_id: str) -> int | None:
    stmt = (
        select(ProbeRun.id)
        .where(ProbeRun.gpu_id == gpu_id, ProbeRun.status == "succeeded")
        .order_by(ProbeRun.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def results_for_gpu_as_dicts(session: Session, gpu_id: str) -> list[dict[str, object]]:
    return [
        {"run_id": r.run_id, "probe": r.probe, "dtype": r.dtype, "size": r.size, "tflops": r.tflops,
         "gb_s": r.gb_s, "median_s": r.median_s}
        for r in results_for_gpu(session, gpu_id)
    ]  # fmt: skip
