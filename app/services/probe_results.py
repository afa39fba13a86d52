"""Stored probe runs: accept a submission (re-identified and bounds-checked by
`probe_trust`), read runs back, list them, and retract one.

A retracted run stays readable (with who retracted it and when) but no longer feeds any
estimate; `app.services.efficiency` reads only accepted runs.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from app.errors import NotFoundError
from app.metrics import PROBE_RUNS
from app.models import ProbeResult, ProbeRun
from app.repositories import probes as probes_repo
from app.schemas.probes import (
    ProbeResultRead,
    ProbeRunRead,
    ProbeRunSummary,
    ProbeSubmission,
)
from app.services.catalog import LoadedCatalog
from app.services.probe_self_check import self_check
from app.services.probe_trust import check_plausible, identify

log = logging.getLogger(__name__)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def result_rows(submission: ProbeSubmission) -> list[ProbeResult]:
    """One row per result of the submission (extra keys kept in `data`)."""
    rows = []
    for r in submission.results:
        data = r.model_dump(mode="json")
        rows.append(
            ProbeResult(
                probe=r.probe,
                dtype=r.dtype,
                size=r.size,
                tflops=r.tflops,
                gb_s=r.gb_s,
                median_s=r.median_s,
                error=r.error or (f"skipped: {r.skipped}" if r.skipped else None),
                data=data,
            )
        )
    return rows


def apply_submission(run: ProbeRun, submission: ProbeSubmission, catalog: LoadedCatalog) -> None:
    """Identify the device and check every figure (422 otherwise), then copy the description
    onto the run. Raises before touching the run."""
    identity = identify(submission, catalog)
    gpu = catalog.gpu(identity.gpu_id) if identity.gpu_id else None
    check_plausible(submission, gpu)
    device = submission.device
    run.backend = device.backend
    run.device_kind = device.device_kind
    run.gpu_id = identity.gpu_id
    run.partition = identity.partition
    run.device = {**device.model_dump(mode="json"), "server_match": identity.reason}
    run.jax_version = device.jax_version
    run.quick = submission.quick


def submit_remote(
    session: Session, submission: ProbeSubmission, catalog: LoadedCatalog, token_name: str
) -> ProbeRunRead:
    """Store a remote agent's results as a finished run (422 when the device or a figure is
    not believable; nothing is stored then)."""
    ok = [r for r in submission.results if r.error is None and r.skipped is None]
    run = ProbeRun(
        status="succeeded" if ok else "failed",
        source="remote",
        progress=1.0,
        message=None if ok else "every probe in the submission failed or was skipped",
        submitted_by=token_name,
        started_at=submission.started_at,
        finished_at=submission.finished_at or now_utc(),
    )
    apply_submission(run, submission, catalog)
    probes_repo.add_run(session, run)
    probes_repo.add_results(session, run, result_rows(submission))
    PROBE_RUNS.labels(source="remote", status=run.status).inc()
    return read_run(session, run.id, catalog)


def read_run(session: Session, run_id: int, catalog: LoadedCatalog) -> ProbeRunRead:
    run = probes_repo.get_run(session, run_id)
    if run is None:
        raise NotFoundError(f"no probe run with id {run_id}")
    results = [
        ProbeResultRead(
            probe=r.probe, dtype=r.dtype, size=r.size, tflops=r.tflops, gb_s=r.gb_s, median_s=r.median_s,
            error=r.error, data=r.data,
        )
        for r in run.results
    ]  # fmt: skip
    return ProbeRunRead(
        id=run.id,
        status=run.status,
        source=run.source,
        quick=run.quick,
        progress=run.progress,
        message=run.message,
        backend=run.backend,
        device_kind=run.device_kind,
        gpu_id=run.gpu_id,
        partition=run.partition,
        device=run.device,
        jax_version=run.jax_version,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        retracted_at=run.retracted_at,
        retracted_by=run.retracted_by,
        results=results,
        self_check=self_check(run, catalog),
    )


def summary(run: ProbeRun) -> ProbeRunSummary:
    return ProbeRunSummary(
        id=run.id, status=run.status, source=run.source, quick=run.quick, device_kind=run.device_kind,
        gpu_id=run.gpu_id, partition=run.partition, submitted_by=run.submitted_by,
        created_at=run.created_at, finished_at=run.finished_at, retracted_at=run.retracted_at,
    )  # fmt: skip


def list_runs(
    session: Session, limit: int = 50, gpu_id: str | None = None
) -> list[ProbeRunSummary]:
    """The newest runs, one line each."""
    return [summary(run) for run in probes_repo.list_runs(session, limit, gpu_id)]


def retract_run(session: Session, run_id: int, by: str) -> ProbeRunSummary:
    """Take a run out of every estimate (404 if there is none; retracting twice is a no-op)."""
    run = probes_repo.get_run(session, run_id)
    if run is None:
        raise NotFoundError(f"no probe run with id {run_id}")
    if run.retracted_at is None:
        probes_repo.retract(session, run, by, now_utc())
        log.warning("probe run %d retracted by %s", run_id, by)
    return summary(run)
