"""Local probe runs: start `python -m probes` in a subprocess, beat the run's heartbeat while it
runs, store its results, and never leave a run "running" that nothing will finish.

Ownership: every server process has an `Instance` (a random id per process start, its host and
pid); a local run records the instance that started it and the probe subprocess's pid. A run is
dead, and marked interrupted at once, when its owner is
- on this host and its pid is no longer alive, or is this very process's pid under another
  instance id (a restarted container reuses pid 1);
- elsewhere (or unknown), and its heartbeat is older than `probe_heartbeat_stale_s`.
Dead runs are reaped when a server starts and again before a new run is refused with 409. A
probe subprocess a dead owner left behind on this host is killed when its run is reaped.

Shutdown (SIGTERM: uvicorn runs the app's lifespan shutdown) stops every probe subprocess of
this process (SIGTERM to its process group, SIGKILL after a grace period), waits for the run
threads to remove their temporary folders, and records the runs as interrupted.

Storage failures: a heartbeat that fails (e.g. waits on a database lock) is logged and retried
at the next beat; storing a finished run is retried with back-off, so a transient database
error never discards results the subprocess produced. Messages stored for clients never contain
exception text from the database layer (it can hold SQL); details go to the server log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.config import PROJECT_ROOT, Settings
from app.errors import AdvisorError, ConflictError
from app.metrics import PROBE_RUNS
from app.models import ProbeRun
from app.repositories import probes as probes_repo
from app.schemas.probes import ProbeRunCreate, ProbeRunRead, ProbeSubmission
from app.services.catalog import LoadedCatalog
from app.services.probe_results import apply_submission, read_run, result_rows

log = logging.getLogger(__name__)

INTERRUPTED_MESSAGE = "the server stopped while this run was in progress"
SHUTDOWN_MESSAGE = "the server was shut down while this run was in progress"
INTERNAL_MESSAGE = "internal error while running the probes (details in the server log)"
HEARTBEAT_S = 2.0
STORE_RETRIES = 5
STORE_BACKOFF_S = 0.5
TERMINATE_GRACE_S = 5.0

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Instance:
    """This server process: a random id per start, its host and pid."""

    id: str
    host: str
    pid: int


_INSTANCES: dict[int, Instance] = {}


def current_instance() -> Instance:
    """This process's instance (a forked worker gets its own)."""
    pid = os.getpid()
    if pid not in _INSTANCES:
        _INSTANCES[pid] = Instance(uuid.uuid4().hex, socket.gethostname(), pid)
    return _INSTANCES[pid]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def is_dead(
    run: ProbeRun,
    me: Instance,
    now: dt.datetime,
    stale_after_s: float,
    alive: Callable[[int], bool] = pid_alive,
) -> bool:
    """Whether nothing will ever finish this active run (see the module docstring)."""
    if run.owner_instance == me.id:
        return False
    if run.owner_host == me.host and run.owner_pid is not None:
        return run.owner_pid == me.pid or not alive(run.owner_pid)
    beat = _aware(run.heartbeat_at) or _aware(run.started_at) or _aware(run.created_at)
    return beat is None or (now - beat).total_seconds() > stale_after_s


def _kill_orphan(run: ProbeRun, me: Instance, alive: Callable[[int], bool]) -> None:
    """Kill the probe subprocess a dead owner on this host left behind (its process group)."""
    if run.probe_pid is None or run.owner_host != me.host or not alive(run.probe_pid):
        return
    try:
        cmdline = Path(f"/proc/{run.probe_pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return
    if b"probes" not in cmdline:
        return  # the pid was reused by something else
    try:
        os.killpg(run.probe_pid, signal.SIGKILL)
        log.warning("killed probe process %d left by run %d", run.probe_pid, run.id)
    except OSError:
        pass


def reap_dead_runs(
    factory: sessionmaker[Session],
    stale_after_s: float,
    *,
    now: Clock = utc_now,
    alive: Callable[[int], bool] = pid_alive,
) -> int:
    """Mark interrupted every active run whose owner is dead. Returns how many."""
    me = current_instance()
    moment = now()
    with factory.begin() as session:
        dead = [
            run
            for run in probes_repo.active_runs(session)
            if is_dead(run, me, moment, stale_after_s, alive)
        ]
        for run in dead:
            _kill_orphan(run, me, alive)
        count = probes_repo.mark_interrupted(
            session, [run.id for run in dead], INTERRUPTED_MESSAGE, moment
        )
    if count:
        log.warning("marked %d probe run(s) interrupted", count)
    return count


def mark_interrupted(factory: sessionmaker[Session], stale_after_s: float) -> int:
    """On start-up: reap runs left by dead server processes (see `reap_dead_runs`)."""
    return reap_dead_runs(factory, stale_after_s)


# Runs this process is executing: run id -> (subprocess once started, its thread).
_ACTIVE: dict[int, tuple[subprocess.Popen[str] | None, threading.Thread]] = {}
_LOCK = threading.Lock()
_STOPPING = threading.Event()


def start_local_run(
    factory: sessionmaker[Session],
    settings: Settings,
    request: ProbeRunCreate,
    catalog: LoadedCatalog,
) -> ProbeRunRead:
    """Start a run in a subprocess (one at a time: 409 with the running id otherwise)."""
    reap_dead_runs(factory, settings.probe_heartbeat_stale_s)
    with factory() as session:
        running = probes_repo.active_local_run(session)
    if running is not None:
        raise ConflictError(
            f"probe run {running.id} is still {running.status}", detail={"running_id": running.id}
        )
    me = current_instance()
    try:
        with factory.begin() as session:
            run = probes_repo.add_run(
                session,
                ProbeRun(
                    status="running",
                    source="local",
                    quick=request.quick,
                    only=request.only,
                    started_at=utc_now(),
                    heartbeat_at=utc_now(),
                    owner_instance=me.id,
                    owner_host=me.host,
                    owner_pid=me.pid,
                ),
            )
            run_id = run.id
    except IntegrityError:  # another worker started one between our check and insert
        with factory() as session:
            running = probes_repo.active_local_run(session)
        running_id = running.id if running else None
        raise ConflictError(
            f"probe run {running_id} is still running", detail={"running_id": running_id}
        ) from None
    thread = threading.Thread(
        target=execute,
        args=(factory, settings, run_id, request, catalog),
        name=f"probe-run-{run_id}",
        daemon=True,
    )
    with _LOCK:
        _ACTIVE[run_id] = (None, thread)
    thread.start()
    with factory() as session:
        return read_run(session, run_id, catalog)


def probe_command(settings: Settings, request: ProbeRunCreate, out: Path) -> list[str]:
    command = [settings.probe_python, "-m", "probes", "run", "--json", "--out", str(out)]
    if request.quick:
        command.append("--quick")
    for name in request.only or []:
        command += ["--only", name]
    return command


def _failure(returncode: int, stderr: str) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        hint = " (killed: out of memory?)" if -returncode == signal.SIGKILL else ""
        return f"probe process killed by {name}{hint}"
    tail = stderr.strip().splitlines()[-3:]
    return f"probe process exited with status {returncode}: " + " | ".join(tail)[:1000]


_PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]", re.MULTILINE)


def _progress(stderr_file: IO[str]) -> float | None:
    """Fraction of cases done, from the probe CLI's `[k/N] ...` lines on stderr."""
    stderr_file.seek(0)
    matches = _PROGRESS.findall(stderr_file.read())
    if not matches:
        return None
    done, total = (int(x) for x in matches[-1])
    return min(0.99, done / total) if total else None


def beat(factory: sessionmaker[Session], run_id: int, progress: float | None) -> bool:
    """One heartbeat; a failure (e.g. a lock timeout) is logged and the next beat retries."""
    try:
        with factory.begin() as session:
            probes_repo.heartbeat(session, run_id, progress)
        return True
    except SQLAlchemyError:
        log.warning("heartbeat of probe run %d failed; retrying at the next beat", run_id)
        return False


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the subprocess's process group, SIGKILL after the grace period."""
    for sig, wait_s in ((signal.SIGTERM, TERMINATE_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except OSError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_with_heartbeat(
    command: list[str], factory: sessionmaker[Session], run_id: int, timeout_s: float
) -> tuple[int, str, str]:
    """Run the probe CLI in its own process group, beating the run's heartbeat meanwhile; stop
    it past `timeout_s` (TimeoutExpired) or when the server shuts down."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=out, stderr=err, text=True, start_new_session=True
        )
        with _LOCK:
            thread = _ACTIVE.get(run_id, (None, threading.current_thread()))[1]
            _ACTIVE[run_id] = (proc, thread)
        if _STOPPING.is_set():  # the server began shutting down while this was starting
            _stop(proc)
        try:
            with factory.begin() as session:
                run = probes_repo.get_run(session, run_id)
                if run is not None:
                    run.probe_pid = proc.pid
        except SQLAlchemyError:
            log.warning("could not record the probe pid of run %d", run_id)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                proc.wait(timeout=min(HEARTBEAT_S, max(0.01, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    _stop(proc)
                    raise
                beat(factory, run_id, _progress(err))
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read()


def _store(
    factory: sessionmaker[Session],
    run_id: int,
    catalog: LoadedCatalog,
    status: str,
    message: str | None,
    submission: ProbeSubmission | None,
) -> bool:
    """Store the outcome, retrying with back-off; True once stored."""
    for attempt in range(STORE_RETRIES):
        try:
            with factory.begin() as session:
                run = probes_repo.get_run(session, run_id)
                if run is None:
                    return True
                if submission is not None:
                    try:
                        apply_submission(run, submission, catalog)
                    except AdvisorError as exc:  # an implausible figure: keep the reason
                        status, message, submission = "failed", str(exc), None
                    else:
                        probes_repo.add_results(session, run, result_rows(submission))
                run.status = status
                run.message = message
                run.progress = 1.0
                run.finished_at = utc_now()
            PROBE_RUNS.labels(source="local", status=status).inc()
            return True
        except SQLAlchemyError:
            log.exception("storing probe run %d failed (attempt %d)", run_id, attempt + 1)
            time.sleep(STORE_BACKOFF_S * 2**attempt)
    return False


def execute(
    factory: sessionmaker[Session],
    settings: Settings,
    run_id: int,
    request: ProbeRunCreate,
    catalog: LoadedCatalog,
) -> None:
    """Run the probes, then store results or the reason they failed (never raises)."""
    status, message, submission = "failed", None, None
    try:
        with tempfile.TemporaryDirectory(prefix="advisor-probe-") as tmp:
            out = Path(tmp) / "probes.json"
            try:
                returncode, stdout, stderr = _run_with_heartbeat(
                    probe_command(settings, request, out), factory, run_id, settings.probe_timeout_s
                )
                text = out.read_text() if out.exists() else stdout
                if _STOPPING.is_set() and returncode < 0:
                    status, message = "interrupted", SHUTDOWN_MESSAGE
                elif returncode != 0 and not text.strip():
                    message = _failure(returncode, stderr)
                else:
                    submission = ProbeSubmission.model_validate(json.loads(text))
                    ok = [r for r in submission.results if r.error is None and r.skipped is None]
                    status = "succeeded" if ok else "failed"
                    if not ok:
                        message = "every probe failed or was skipped"
            except subprocess.TimeoutExpired:
                message = (
                    f"timed out after {settings.probe_timeout_s:g} s (ADVISOR_PROBE_TIMEOUT_S)"
                )
            except FileNotFoundError as exc:
                message = (
                    f"cannot start the probe interpreter {settings.probe_python!r}: {exc.strerror}"
                )
            except (json.JSONDecodeError, ValueError) as exc:
                message = f"probe output is not valid: {str(exc).splitlines()[0][:500]}"
            except Exception:  # the thread must record every failure, whatever it is
                log.exception("probe run %d failed", run_id)
                message = INTERNAL_MESSAGE
        if not _store(factory, run_id, catalog, status, message, submission):
            log.error("probe run %d could not be stored; it will be reaped as interrupted", run_id)
    finally:
        with _LOCK:
            _ACTIVE.pop(run_id, None)


def shutdown(wait_s: float = 15.0) -> None:
    """Stop this process's probe subprocesses and wait for their threads to finish (which
    removes their temporary folders and records the runs interrupted)."""
    _STOPPING.set()
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with _LOCK:
                active = list(_ACTIVE.values())
            if not active:
                return
            for proc, _thread in active:
                if proc is not None and proc.poll() is None:
                    _stop(proc)
            for _proc, thread in active:
                thread.join(timeout=0.1)
    finally:
        _STOPPING.clear()
