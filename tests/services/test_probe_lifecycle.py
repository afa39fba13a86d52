"""Probe-run lifecycle: runs owned by a dead server are interrupted at once on restart (not
after the heartbeat goes stale), SIGTERM stops the probe and removes its temp folder, a failing
heartbeat or store never discards finished results, and client messages carry no SQL. With a
fake clock, fake probe interpreters, and real servers killed and restarted."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlalchemy.exc import OperationalError

from app.config import PROJECT_ROOT, Settings
from app.db import make_sessionmaker
from app.main import create_app
from app.models import ProbeRun
from app.repositories import probes as probes_repo
from app.services import probe_runner
from app.services.probe_runner import INTERNAL_MESSAGE, current_instance, reap_dead_runs

AUTH = {"Authorization": "Bearer test-token"}
CPU_DOCUMENT = json.dumps(
    {
        "device": {"backend": "cpu", "device_kind": "cpu"},
        "results": [
            {
                "probe": "matmul",
                "dtype": "fp32",
                "size": "64x64x64",
                "tflops": 0.01,
                "median_s": 1e-3,
            }
        ],
    }
)


@pytest.fixture(autouse=True)
def _no_active_runs(engine: Engine) -> Iterator[None]:
    """Each test starts and ends with no active run (the database is shared by the session)."""

    def clear() -> None:
        with make_sessionmaker(engine).begin() as session:
            session.execute(
                update(ProbeRun)
                .where(ProbeRun.status.in_(("queued", "running")))
                .values(status="interrupted", message="test cleanup")
            )

    clear()
    yield
    clear()


def _interpreter(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _add_run(engine: Engine, **fields: Any) -> int:
    now = dt.datetime.now(dt.UTC)
    with make_sessionmaker(engine).begin() as session:
        run = ProbeRun(status="running", source="local", started_at=now, heartbeat_at=now, **fields)
        session.add(run)
        session.flush()
        return run.id


def _status(engine: Engine, run_id: int) -> ProbeRun:
    with make_sessionmaker(engine)() as session:
        run = probes_repo.get_run(session, run_id)
        assert run is not None
        session.expunge(run)
        return run


def _wait_for(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of this process still answers kill(0): reap it if it is ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


def test_a_restart_within_the_heartbeat_window_interrupts_a_dead_owners_run_at_once(
    settings: Settings, engine: Engine
) -> None:
    me = current_instance()
    owners = [
        {"owner_instance": "old", "owner_host": me.host, "owner_pid": _dead_pid()},
        # a restarted container reuses pid 1: our pid under another instance id is dead too
        {"owner_instance": "previous-boot", "owner_host": me.host, "owner_pid": me.pid},
    ]
    for owner in owners:
        run_id = _add_run(engine, **owner)
        with TestClient(create_app(settings)):  # a restart, seconds after the last heartbeat
            pass
        run = _status(engine, run_id)
        assert run.status == "interrupted"
        assert "stopped" in (run.message or "")


def test_a_live_owner_keeps_its_run_and_a_new_run_gets_409_until_it_dies(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    owner = subprocess.Popen(["sleep", "60"])
    me = current_instance()
    try:
        run_id = _add_run(
            engine, owner_instance="worker-2", owner_host=me.host, owner_pid=owner.pid
        )
        fast = _interpreter(tmp_path, f"echo '{CPU_DOCUMENT}'")
        with TestClient(create_app(settings.model_copy(update={"probe_python": fast}))) as client:
            assert _status(engine, run_id).status == "running"
            refused = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH)
            assert refused.status_code == 409
            owner.kill()
            owner.wait()
            started = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH)
            assert started.status_code == 202, started.text
            new_id = started.json()["id"]
            _wait_for(lambda: _status(engine, new_id).status != "running")
        assert _status(engine, run_id).status == "interrupted"
        assert _status(engine, new_id).status == "succeeded"
    finally:
        owner.kill()
        owner.wait()


def test_a_run_owned_on_another_host_is_reaped_once_its_heartbeat_is_stale(
    engine: Engine,
) -> None:
    beat = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    run_id = _add_run(engine, owner_instance="x", owner_host="elsewhere", owner_pid=1)
    with make_sessionmaker(engine).begin() as session:
        session.execute(update(ProbeRun).where(ProbeRun.id == run_id).values(heartbeat_at=beat))
    factory = make_sessionmaker(engine)
    assert reap_dead_runs(factory, 60.0, now=lambda: beat + dt.timedelta(seconds=30)) == 0
    assert _status(engine, run_id).status == "running"
    assert reap_dead_runs(factory, 60.0, now=lambda: beat + dt.timedelta(seconds=61)) == 1
    assert _status(engine, run_id).status == "interrupted"


SLEEPER = 'echo $$ > {pid}; echo "$6" > {out}; sleep 60 & wait'


def test_shutdown_stops_the_probe_and_removes_its_temp_folder(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    pid_file, out_file = tmp_path / "pid", tmp_path / "out"
    script = _interpreter(tmp_path, SLEEPER.format(pid=pid_file, out=out_file))
    with TestClient(create_app(settings.model_copy(update={"probe_python": script}))) as client:
        run_id = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH).json()["id"]
        _wait_for(lambda: out_file.exists() and out_file.read_text().strip() != "")
        pid = int(pid_file.read_text())
        temp_dir = Path(out_file.read_text().strip()).parent
        assert temp_dir.is_dir()
    # the lifespan's shutdown (what uvicorn runs on SIGTERM) has returned
    assert not _alive(pid)
    assert not temp_dir.exists()
    run = _status(engine, run_id)
    assert run.status == "interrupted"
    assert "shut down" in (run.message or "")


def test_a_failing_heartbeat_never_fails_a_run_whose_probe_succeeded(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("UPDATE probe_runs SET heartbeat_at=?", {}, Exception("locked"))

    monkeypatch.setattr(probe_runner, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(probes_repo, "heartbeat", locked)
    script = _interpreter(tmp_path, f"sleep 1; echo '{CPU_DOCUMENT}'")
    with TestClient(create_app(settings.model_copy(update={"probe_python": script}))) as client:
        run_id = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH).json()["id"]
        _wait_for(lambda: _status(engine, run_id).status != "running")
        body = client.get(f"/api/v1/probe-runs/{run_id}").json()
    assert body["status"] == "succeeded", body["message"]
    assert [r["probe"] for r in body["results"]] == ["matmul"]


def test_storing_a_finished_run_is_retried(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = probes_repo.add_results
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT INTO probe_results", {}, Exception("lock timeout"))
        real(*args, **kwargs)

    monkeypatch.setattr(probe_runner, "STORE_BACKOFF_S", 0.01)
    monkeypatch.setattr(probes_repo, "add_results", flaky)
    script = _interpreter(tmp_path, f"echo '{CPU_DOCUMENT}'")
    with TestClient(create_app(settings.model_copy(update={"probe_python": script}))) as client:
        run_id = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH).json()["id"]
        _wait_for(lambda: _status(engine, run_id).status != "running")
        body = client.get(f"/api/v1/probe-runs/{run_id}").json()
    assert calls["n"] == 2
    assert body["status"] == "succeeded"
    assert len(body["results"]) == 1


def test_an_internal_error_shows_clients_no_sql(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[str]:
        raise OperationalError("SELECT token_sha256 FROM api_tokens", {}, Exception("gone"))

    monkeypatch.setattr(probe_runner, "probe_command", broken)
    with TestClient(create_app(settings)) as client:
        run_id = client.post("/api/v1/probe-runs", json={"quick": True}, headers=AUTH).json()["id"]
        _wait_for(lambda: _status(engine, run_id).status != "running")
        body = client.get(f"/api/v1/probe-runs/{run_id}").json()
    assert body["status"] == "failed"
    assert body["message"] == INTERNAL_MESSAGE
    assert "SELECT" not in json.dumps(body)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(settings: Settings, probe_python: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ADVISOR_DATABASE_URL": settings.database_url,
        "ADVISOR_CATALOG_DIR": str(settings.catalog_dir),
        "ADVISOR_SYNC_CATALOG_ON_START": "false",
        "ADVISOR_API_TOKEN": "test-token",
        "ADVISOR_RATE_LIMIT_ENABLED": "false",
        "ADVISOR_PROBE_PYTHON": probe_python,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    _wait_for(ready, timeout_s=60)
    return server


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_and_restarted_server_leaves_no_probe_temp_folder_or_running_run(
    settings: Settings, engine: Engine, tmp_path: Path, sig: signal.Signals
) -> None:
    pid_file, out_file = tmp_path / "pid", tmp_path / "out"
    script = _interpreter(tmp_path, SLEEPER.format(pid=pid_file, out=out_file))
    port = _free_port()
    server = _serve(settings, script, port)
    try:
        started = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/probe-runs", json={"quick": True}, headers=AUTH
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        _wait_for(lambda: out_file.exists() and out_file.read_text().strip() != "")
        probe_pid = int(pid_file.read_text())
        temp_dir = Path(out_file.read_text().strip()).parent
        # the server records the probe's pid just after starting it (milliseconds)
        _wait_for(lambda: _status(engine, run_id).probe_pid == probe_pid, timeout_s=10)
        server.send_signal(sig)
        server.wait(timeout=60)
        if sig == signal.SIGTERM:  # graceful: the server itself cleans up
            assert not _alive(probe_pid)
            assert not temp_dir.exists()
            assert _status(engine, run_id).status == "interrupted"
        else:  # killed: nothing ran; the run still says running
            assert _status(engine, run_id).status == "running"
        server = _serve(settings, script, port)  # restarted well within the 60 s window
        body = httpx.get(f"http://127.0.0.1:{port}/api/v1/probe-runs/{run_id}").json()
        assert body["status"] == "interrupted"
        _wait_for(lambda: not _alive(probe_pid), timeout_s=10)  # the orphan was killed
    finally:
        server.terminate()
        server.wait(timeout=60)
