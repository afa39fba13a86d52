"""Probe runs: start `python -m probes` in a subprocess, accept remote agents' results, read them
back, and turn them into efficiencies the estimator uses.

The web process never imports JAX or the probes package: a run is a subprocess with a timeout,
and its JSON is validated like any other input.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import PROJECT_ROOT, Settings
from app.db import session_scope
from app.errors import ConflictError, NotFoundError
from app.estimator.estimate import EstimateContext, ModelDescription, estimate
from app.estimator.hardware import Efficiency, GpuSpec
from app.estimator.model import TransformerShape
from app.estimator.workload import Workload
from app.metrics import PROBE_RUNS
from app.models import ProbeResult, ProbeRun
from app.repositories import probes as probes_repo
from app.schemas.probes import (
    ProbeResultRead,
    ProbeRunCreate,
    ProbeRunRead,
    ProbeSubmission,
    SelfCheck,
)
from app.services.catalog import LoadedCatalog
from app.services.efficiency import (
    best_rate,
    efficiency_for,
    fit_latency_throughput,
    fractions,
    sweep,
)
from app.services.estimate import gpu_spec

log = logging.getLogger(__name__)
INTERRUPTED_MESSAGE = "the server stopped while this run was in progress"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


HEARTBEAT_S = 2.0


def mark_interrupted(factory: sessionmaker[Session], stale_after_s: float) -> int:
    """Runs whose process stopped beating (the server running them died) can never finish."""
    stale_before = _now() - dt.timedelta(seconds=stale_after_s)
    with factory.begin() as session:
        count = probes_repo.mark_stale_interrupted(session, INTERRUPTED_MESSAGE, stale_before)
    if count:
        log.warning("marked %d probe run(s) interrupted", count)
    return count


def _result_rows(submission: ProbeSubmission) -> list[ProbeResult]:
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


def _apply(run: ProbeRun, submission: ProbeSubmission, catalog: LoadedCatalog) -> None:
    device = submission.device
    run.backend = device.backend
    run.device_kind = device.device_kind
    matched = device.catalog_id
    run.gpu_id = matched if matched and catalog.gpu(matched) is not None else None
    run.device = device.model_dump(mode="json")
    run.jax_version = device.jax_version
    run.quick = submission.quick


def submit_remote(
    session: Session, submission: ProbeSubmission, catalog: LoadedCatalog, token_name: str
) -> ProbeRunRead:
    """Store a remote agent's results as a finished run."""
    ok = [r for r in submission.results if r.error is None and r.skipped is None]
    run = ProbeRun(
        status="succeeded" if ok else "failed",
        source="remote",
        progress=1.0,
        message=None if ok else "every probe in the submission failed or was skipped",
        submitted_by=token_name,
        started_at=submission.started_at,
        finished_at=submission.finished_at or _now(),
    )
    _apply(run, submission, catalog)
    probes_repo.add_run(session, run)
    probes_repo.add_results(session, run, _result_rows(submission))
    PROBE_RUNS.labels(source="remote", status=run.status).inc()
    return read_run(session, run.id, catalog)


def start_local_run(
    factory: sessionmaker[Session],
    settings: Settings,
    request: ProbeRunCreate,
    catalog: LoadedCatalog,
) -> ProbeRunRead:
    """Start a run in a subprocess (one at a time: 409 with the running id otherwise)."""
    with factory() as session:
        running = probes_repo.active_local_run(session)
    if running is not None:
        raise ConflictError(
            f"probe run {running.id} is still {running.status}", detail={"running_id": running.id}
        )
    try:
        with factory.begin() as session:
            run = probes_repo.add_run(
                session,
                ProbeRun(
                    status="running",
                    source="local",
                    quick=request.quick,
                    only=request.only,
                    started_at=_now(),
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
        target=_execute,
        args=(factory, settings, run_id, request, catalog),
        name=f"probe-run-{run_id}",
        daemon=True,
    )
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


def _run_with_heartbeat(
    command: list[str], factory: sessionmaker[Session], run_id: int, timeout_s: float
) -> tuple[int, str, str]:
    """Run the probe CLI, beating the run's heartbeat meanwhile; kill it past `timeout_s`."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                proc.wait(timeout=min(HEARTBEAT_S, max(0.01, deadline - time.monotonic())))
                break
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    proc.kill()
                    proc.wait()
                    raise
                with factory.begin() as session:
                    probes_repo.heartbeat(session, run_id, _progress(err))
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read(), err.read()


def _execute(
    factory: sessionmaker[Session],
    settings: Settings,
    run_id: int,
    request: ProbeRunCreate,
    catalog: LoadedCatalog,
) -> None:
    """Run the probes, then store results or the reason they failed (never raises)."""
    status, message, submission = "failed", None, None
    with tempfile.TemporaryDirectory(prefix="advisor-probe-") as tmp:
        out = Path(tmp) / "probes.json"
        try:
            returncode, stdout, stderr = _run_with_heartbeat(
                probe_command(settings, request, out), factory, run_id, settings.probe_timeout_s
            )
            text = out.read_text() if out.exists() else stdout
            if returncode != 0 and not text.strip():
                message = _failure(returncode, stderr)
            else:
                submission = ProbeSubmission.model_validate(json.loads(text))
                ok = [r for r in submission.results if r.error is None and r.skipped is None]
                status = "succeeded" if ok else "failed"
                if not ok:
                    message = "every probe failed or was skipped"
        except subprocess.TimeoutExpired:
            message = f"timed out after {settings.probe_timeout_s:g} s (ADVISOR_PROBE_TIMEOUT_S)"
        except FileNotFoundError as exc:
            message = (
                f"cannot start the probe interpreter {settings.probe_python!r}: {exc.strerror}"
            )
        except (json.JSONDecodeError, ValueError) as exc:
            message = f"probe output is not valid: {str(exc).splitlines()[0][:500]}"
        except Exception as exc:  # the thread must record every failure, whatever it is
            log.exception("probe run %d failed", run_id)
            message = f"{type(exc).__name__}: {exc}"
    try:
        for session in session_scope(factory):
            run = probes_repo.get_run(session, run_id)
            if run is None:
                return
            if submission is not None:
                _apply(run, submission, catalog)
                probes_repo.add_results(session, run, _result_rows(submission))
            run.status = status
            run.message = message
            run.progress = 1.0
            run.finished_at = _now()
        PROBE_RUNS.labels(source="local", status=status).inc()
    except Exception:
        log.exception("could not store probe run %d", run_id)


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
        device=run.device,
        jax_version=run.jax_version,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        results=results,
        self_check=self_check(run, catalog),
    )


def _device_spec(
    run: ProbeRun, catalog: LoadedCatalog, dtype: str
) -> tuple[GpuSpec, Efficiency, str] | None:
    """The device as the estimator sees it: the matched catalog GPU with this run's measured
    efficiency, or (unmatched, e.g. the host CPU) a spec whose peaks are the measured rates."""
    results = list(run.results)
    if run.gpu_id and (gpu := catalog.gpu(run.gpu_id)) is not None:
        spec = gpu_spec(gpu)
        f = fractions(results, spec, dtype)
        base = efficiency_for(spec, dtype, catalog)
        eff = Efficiency(
            matmul_fraction=min(1.0, f["matmul"] or base.matmul_fraction),
            bandwidth_fraction=min(1.0, f["bandwidth"] or base.bandwidth_fraction),
            attention_fraction=min(1.0, f["attention"] or base.attention_fraction),
            overhead_s=base.overhead_s,
            allreduce_fraction=base.allreduce_fraction,
            source=f"probe:{run.id}",
        )
        return spec, eff, f"{gpu.name} with this run's measured efficiency"
    # Unmatched (e.g. the host CPU): fit t = t0 + work / rate to the probe's own size sweeps,
    # so the "peak" is the measured large-size rate and t0 the measured per-call cost.
    matmul_fit = fit_latency_throughput(sweep(results, "matmul", dtype, "flops"))
    best_matmul = best_rate(results, "matmul", "tflops", dtype)
    best_bandwidth = best_rate(results, "bandwidth", "gb_s")
    if not best_matmul or not best_bandwidth:
        return None
    matmul_tflops = matmul_fit[0] / 1e12 if matmul_fit else best_matmul
    bandwidth_gb_s = best_bandwidth  # one size per kernel: no sweep to fit
    attention = best_rate(results, "attention", "tflops", dtype) or matmul_tflops
    device = run.device or {}
    memory_gb = (
        float(device.get("memory_total_bytes") or device.get("memory_limit_bytes") or 2**36) / 2**30
    )
    spec = GpuSpec(
        id="probe-device", name=run.device_kind or "probe device", vendor="other", architecture="host",
        segment="host", memory_gib=memory_gb, memory_bandwidth_gb_s=bandwidth_gb_s,
        peak_tflops={dtype: matmul_tflops}, tdp_w=0.0, platform=run.backend or "cpu",
    )  # fmt: skip
    eff = Efficiency(
        matmul_fraction=1.0,
        bandwidth_fraction=1.0,
        attention_fraction=min(1.0, attention / matmul_tflops),
        overhead_s=matmul_fit[1] if matmul_fit else 0.0,
        memory_op_overhead_s=0.0,  # XLA fuses elementwise steps into the neighbouring kernels
        allreduce_fraction=1.0,
        source=f"probe:{run.id}",
    )
    return (
        spec,
        eff,
        (
            f"unmatched device: matmul {matmul_tflops:.3g} TFLOP/s + {eff.overhead_s * 1e3:.2f} ms per call "
            f"(fitted to this run's matmul sizes), memory {bandwidth_gb_s:.3g} GB/s (best measured)"
        ),
    )


def self_check(run: ProbeRun, catalog: LoadedCatalog) -> SelfCheck | None:
    """Predict the train_step probe's step with the estimator on the same device and compare."""
    step = next(
        (r for r in run.results if r.probe == "train_step" and r.error is None and r.median_s), None
    )
    if step is None:
        return None
    data = step.data
    nested = data.get("model")
    dims: dict[str, Any] = nested if isinstance(nested, dict) else data
    try:
        shape = TransformerShape(
            layers=int(dims["layers"]),
            hidden_size=int(dims["hidden_size"]),
            heads=int(dims["heads"]),
            kv_heads=int(dims.get("kv_heads") or dims["heads"]),
            ffn_hidden_size=int(dims["ffn_hidden_size"]),
            vocab_size=int(dims["vocab_size"]),
            gated_ffn=True,
        )
        dtype = str(dims.get("dtype") or step.dtype or "fp32")
        workload = Workload(
            task="pretrain",
            precision=dtype,
            seq_len=int(dims["seq_len"]),
            micro_batch=int(dims["batch"]),
            flash_attention=False,  # jax.nn.dot_product_attention's XLA path materializes scores
            fused_kernels=True,  # XLA fuses the elementwise steps
            master_weights=False,
        )
    except (KeyError, TypeError, ValueError):
        return None
    device = _device_spec(run, catalog, dtype)
    if device is None:
        return None
    spec, eff, basis = device
    predicted = estimate(
        ModelDescription("train_step probe", shape), workload, EstimateContext(gpu=spec, count=1, efficiency=eff),
        detailed=False,
    ).time.step_seconds  # fmt: skip
    measured = float(step.median_s or 0.0)
    return SelfCheck(
        measured_step_s=measured,
        predicted_step_s=predicted,
        error_pct=100.0 * (predicted - measured) / measured,
        basis=basis,
    )
