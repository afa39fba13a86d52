"""Concurrent writes: parallel submissions all land; racing probe-run starts let exactly one in.

Runs on both backends; the PostgreSQL run is the one that matters for production (several
replicas writing at once).
"""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.config import Settings
from app.db import make_sessionmaker
from app.errors import ConflictError
from app.models import ProbeResult, ProbeRun
from app.schemas.probes import ProbeRunCreate, ProbeSubmission
from app.services.catalog import LoadedCatalog
from app.services.probe_results import submit_remote
from app.services.probe_runner import start_local_run

WORKERS = 8


def _submission(i: int) -> ProbeSubmission:
    return ProbeSubmission.model_validate(
        {
            "device": {"backend": "cpu", "device_kind": f"concurrency-test-{i}"},
            "results": [
                {
                    "probe": "matmul",
                    "dtype": "fp32",
                    "size": f"{n}",
                    "tflops": 0.1 * n,
                    "median_s": 0.01,
                }
                for n in range(1, 6)
            ],
        }
    )


def test_parallel_submissions_are_all_stored(engine: Engine, catalog: LoadedCatalog) -> None:
    factory = make_sessionmaker(engine)

    def submit(i: int) -> int:
        with factory.begin() as session:
            return submit_remote(session, _submission(i), catalog, "concurrency").id

    with ThreadPoolExecutor(WORKERS) as pool:
        ids = list(pool.map(submit, range(WORKERS * 3)))
    assert len(set(ids)) == WORKERS * 3
    with factory() as session:
        runs = session.scalar(
            select(func.count()).select_from(ProbeRun).where(ProbeRun.id.in_(ids))
        )
        results = session.scalar(
            select(func.count()).select_from(ProbeResult).where(ProbeResult.run_id.in_(ids))
        )
    assert runs == WORKERS * 3
    assert results == WORKERS * 3 * 5


def test_racing_local_run_starts_let_exactly_one_in(
    engine: Engine, settings: Settings, catalog: LoadedCatalog, tmp_path: Path
) -> None:
    fake = tmp_path / "slow-python"
    fake.write_text("#!/bin/sh\nsleep 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    factory = make_sessionmaker(engine)
    config = settings.model_copy(update={"probe_python": str(fake), "probe_timeout_s": 2.0})

    def start(_: int) -> str:
        try:
            start_local_run(factory, config, ProbeRunCreate(quick=True), catalog)
        except ConflictError:
            return "conflict"
        return "started"

    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(start, range(WORKERS)))
    assert outcomes.count("started") == 1, outcomes
    assert outcomes.count("conflict") == WORKERS - 1
    with factory.begin() as session:  # clean up so later tests can start runs
        for run in session.scalars(select(ProbeRun).where(ProbeRun.status == "running")):
            run.status = "failed"
            run.message = "ended by the concurrency test"


@pytest.fixture(autouse=True)
def _no_leftover_runs(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory.begin() as session:
        for run in session.scalars(
            select(ProbeRun).where(ProbeRun.status.in_(("running", "queued")))
        ):
            run.status = "interrupted"
