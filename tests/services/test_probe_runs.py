"""Probe runs through the API: real JAX on the CPU, failures recorded, remote submissions."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT, Settings
from app.main import create_app
from app.models import ProbeRun
from app.schemas.probes import PROBE_NAMES

AUTH = {"Authorization": "Bearer test-token"}
H100_SUBMISSION: dict[str, Any] = {
    "device": {"backend": "gpu", "device_kind": "NVIDIA H100 80GB HBM3", "device_count": 1,
               "catalog_id": "nvidia-h100-sxm", "jax_version": "0.4.35"},
    "results": [
        {"probe": "matmul", "dtype": "bf16", "size": "8192x8192x8192", "tflops": 700.0, "median_s": 0.0016},
        {"probe": "bandwidth", "dtype": "fp32", "size": "1GiB", "gb_s": 3000.0, "median_s": 0.0007},
        {"probe": "attention", "dtype": "bf16", "size": "s4096", "tflops": 400.0, "median_s": 0.001},
    ],
}  # fmt: skip


def _wait(client: TestClient, run_id: int, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(f"/api/v1/probe-runs/{run_id}").json()
        if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def _fake_interpreter(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture
def app_with(settings: Settings) -> Any:
    def make(**update: Any) -> TestClient:
        return TestClient(create_app(settings.model_copy(update=update)))

    return make


def test_a_local_run_measures_the_cpu_with_real_jax_and_refuses_a_second(app_with: Any) -> None:
    with app_with(probe_python=sys.executable) as client:
        started = client.post(
            "/api/v1/probe-runs", json={"quick": True, "only": ["matmul"]}, headers=AUTH
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        second = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH)
        assert second.status_code == 409
        assert second.json()["detail"]["running_id"] == run_id
        done = _wait(client, run_id)
    assert done["status"] == "succeeded", done["message"]
    assert done["backend"] == "cpu"
    assert done["gpu_id"] is None  # the host CPU is no catalog GPU: unmatched, honestly
    rates = [r["tflops"] for r in done["results"] if r["probe"] == "matmul" and r["tflops"]]
    assert rates
    assert all(0 < rate < 5 for rate in rates)  # a 2-core CPU: far below 5 TFLOP/s


def test_a_run_reports_progress_while_it_runs(app_with: Any, tmp_path: Path) -> None:
    script = "echo '[1/4] a' >&2; echo '[2/4] b' >&2; sleep 3; echo '{not json'"
    with app_with(probe_python=_fake_interpreter(tmp_path, script), probe_timeout_s=20.0) as client:
        run_id = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH).json()["id"]
        seen = 0.0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            body = client.get(f"/api/v1/probe-runs/{run_id}").json()
            if body["status"] != "running":
                break
            seen = max(seen, body["progress"])
            time.sleep(0.2)
        assert seen == pytest.approx(0.5)
        assert body["progress"] == 1.0


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("echo boom >&2; exit 3", "exited with status 3: boom"),
        ("kill -9 $$", "killed by SIGKILL (killed: out of memory?)"),
        ("echo '{not json'", "probe output is not valid"),
        ("sleep 30", "timed out after 1 s"),
    ],
)
def test_a_crashing_or_hanging_probe_fails_the_run_with_its_reason(
    app_with: Any, tmp_path: Path, script: str, reason: str
) -> None:
    with app_with(probe_python=_fake_interpreter(tmp_path, script), probe_timeout_s=1.0) as client:
        run_id = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH).json()["id"]
        done = _wait(client, run_id, timeout_s=30)
        assert done["status"] == "failed"
        assert reason in done["message"]
        assert client.get("/healthz").status_code == 200  # the server keeps serving


def test_a_run_left_running_by_a_dead_server_is_marked_interrupted(
    app_with: Any, db_session: Session
) -> None:
    del db_session  # the app uses its own sessions; the run must be committed for it to see
    with app_with(sync_catalog_on_start=False) as client:
        factory = client.app.state.sessionmaker  # type: ignore[attr-defined]
    with factory.begin() as session:
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
        run = ProbeRun(status="running", source="local", started_at=stale, heartbeat_at=stale)
        session.add(run)
        session.flush()
        run_id = run.id
    with app_with(sync_catalog_on_start=True) as client:  # a restart
        body = client.get(f"/api/v1/probe-runs/{run_id}").json()
    assert body["status"] == "interrupted"
    assert "stopped" in body["message"]


def test_a_remote_submission_feeds_the_estimates_and_the_gpu_page(client: TestClient) -> None:
    stored = client.post("/api/v1/probe-results", json=H100_SUBMISSION, headers=AUTH)
    assert stored.status_code == 201, stored.text
    run = stored.json()
    assert run["gpu_id"] == "nvidia-h100-sxm"
    detail = client.get("/api/v1/gpus/nvidia-h100-sxm").json()
    assert {m["tflops"] for m in detail["measurements"] if m["probe"] == "matmul"} == {700.0}
    estimate = client.post(
        "/api/v1/estimate",
        json={"model": {"preset": "llama-2-7b"}, "hardware": {"gpu": "nvidia-h100-sxm"}},
    ).json()
    assert estimate["time"]["efficiency_source"] == f"probe:{run['id']}"
    assert any("70.75%" in a or "71%" in a for a in estimate["assumptions"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"device": {"backend": "gpu"}, "results": []}, 422),
        (
            {
                "device": {"backend": "cpu", "device_kind": "cpu"},
                "results": [{"probe": "matmul", "tflops": -1}],
            },
            422,
        ),
        ({"device": {"backend": "cpu", "device_kind": "cpu"}, "results": "lots"}, 422),
    ],
)
def test_malformed_submissions_are_refused_and_nothing_is_stored(
    client: TestClient, body: dict[str, Any], status: int
) -> None:
    before = client.get("/api/v1/gpus/nvidia-h100-sxm").json()["measurements"]
    response = client.post("/api/v1/probe-results", json=body, headers=AUTH)
    assert response.status_code == status
    assert client.get("/api/v1/gpus/nvidia-h100-sxm").json()["measurements"] == before


def test_an_oversized_submission_is_a_413(client: TestClient) -> None:
    big = {**H100_SUBMISSION, "padding": "x" * 2_100_000}
    response = client.post("/api/v1/probe-results", json=big, headers=AUTH)
    assert response.status_code == 413


def test_unknown_probe_names_are_refused_before_anything_runs(client: TestClient) -> None:
    response = client.post("/api/v1/probe-runs", json={"only": ["gemm"]}, headers=AUTH)
    assert response.status_code == 422
    assert "body.only.0" in response.json()["error"]


def test_the_service_knows_the_probe_names_the_cli_lists() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "probes", "list"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    ).stdout  # fmt: skip
    assert tuple(line.split()[0] for line in listed.splitlines() if line.strip()) == PROBE_NAMES
