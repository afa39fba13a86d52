"""`gpu-advisor probes list|show|delete` on a real SQLite database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.models import ProbeResult, ProbeRun
from app.services.efficiency import measured_efficiencies

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ADVISOR_DATABASE_URL", url)
    get_settings.cache_clear()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    yield url
    get_settings.cache_clear()


def _stored_run(url: str) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            run = ProbeRun(status="succeeded", source="remote", quick=False, progress=1.0,
                           device_kind="NVIDIA H100 80GB HBM3", gpu_id="nvidia-h100-sxm")  # fmt: skip
            run.results = [
                ProbeResult(
                    probe="matmul",
                    dtype="bf16",
                    size="8192x8192x8192",
                    tflops=700.0,
                    median_s=1.6e-3,
                    data={"m": 8192, "n": 8192, "k": 8192},
                )
            ]
            session.add(run)
            session.flush()
            return run.id
    finally:
        engine.dispose()


def _measured(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return set(measured_efficiencies(session))
    finally:
        engine.dispose()


def test_list_show_and_delete_a_probe_run(database: str) -> None:
    run_id = _stored_run(database)
    listed = runner.invoke(cli, ["probes", "list"])
    assert listed.exit_code == 0, listed.output
    assert "succeeded" in listed.output
    assert "remote" in listed.output
    shown = runner.invoke(cli, ["probes", "show", str(run_id)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["results"][0]["tflops"] == 700.0
    assert _measured(database) == {"nvidia-h100-sxm"}
    deleted = runner.invoke(cli, ["probes", "delete", str(run_id)])
    assert deleted.exit_code == 0, deleted.output
    assert _measured(database) == set()  # retracted: no longer feeds any estimate
    assert "retracted" in runner.invoke(cli, ["probes", "show", str(run_id)]).stdout


def test_a_missing_run_fails_cleanly(database: str) -> None:
    for command in (["probes", "show", "99"], ["probes", "delete", "99"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1
        assert "no probe run with id 99" in result.output
