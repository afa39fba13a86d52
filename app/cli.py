"""`gpu-advisor`: serve the app, migrate the database, check and sync the catalog, list GPUs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from app.config import get_settings
from app.errors import AdvisorError

if TYPE_CHECKING:
    import uvicorn
    from sqlalchemy.orm import Session

    from app.estimator.result import Estimate

T = TypeVar("T")
WORKER_HEALTHCHECK_TIMEOUT_S = 30

cli = typer.Typer(
    help="GPU Advisor: which GPU, how many, how long, how much, will it fit.", no_args_is_help=True
)
db_cli = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
catalog_cli = typer.Typer(help="The GPU catalog files.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(catalog_cli, name="catalog")
token_cli = typer.Typer(help="Bearer tokens for the write endpoints.", no_args_is_help=True)
cli.add_typer(token_cli, name="token")
saved_cli = typer.Typer(help="Saved recommendations (shareable links).", no_args_is_help=True)
cli.add_typer(saved_cli, name="saved")
probes_cli = typer.Typer(help="Stored probe runs: list, show, retract.", no_args_is_help=True)
cli.add_typer(probes_cli, name="probes")


class _LazyConsole:
    """Prints through a rich Console made at each use, so COLUMNS set by the caller (or a test)
    applies."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr

    def print(self, *objects: Any, **kwargs: Any) -> None:
        Console(stderr=self._stderr).print(*objects, **kwargs)

    def print_json(self, json: str) -> None:
        Console(stderr=self._stderr).print_json(json)


console = _LazyConsole()
err_console = _LazyConsole(stderr=True)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default ADVISOR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ADVISOR_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated addresses of proxies whose X-Forwarded-For is trusted "
            "(default ADVISOR_FORWARDED_ALLOW_IPS, empty: none, the peer is the client)."
        ),
    ] = None,
) -> None:
    """Serve the web app and API with uvicorn."""
    import uvicorn

    settings = get_settings()
    if migrate:
        from app import migrate as migrations

        migrations.upgrade(settings.database_url)
    trusted = settings.forwarded_allow_ips if forwarded_allow_ips is None else forwarded_allow_ips
    trusted = ",".join(part.strip() for part in trusted.split(",") if part.strip())
    config = uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise, which let any local
        # client pick its rate-limit identity; trust only the proxies named here.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        # Worker supervision: uvicorn's 5 s default killed workers still importing on a busy
        # host (every worker "died" in a loop and none ever served).
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT_S,
    )
    if config.workers > 1:
        _serve_workers(config)
    else:
        uvicorn.Server(config).run()


def _serve_workers(config: uvicorn.Config) -> None:
    """Several uvicorn workers on one listening socket we bind ourselves with proto=IPPROTO_TCP:
    uvicorn's own bind leaves proto 0, so accepted connections never get TCP_NODELAY and every
    keep-alive response waits ~40 ms for a delayed ACK (uvicorn issue #3149)."""
    import socket

    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.host, config.port))
    sock.set_inheritable(True)
    Multiprocess(config, sockets=[sock]).run()


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    from app import migrate as migrations

    migrations.upgrade(get_settings().database_url, revision)


@db_cli.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")],
) -> None:
    """Revert migrations down to REVISION."""
    from app import migrate as migrations

    migrations.downgrade(get_settings().database_url, revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    from app import migrate as migrations

    migrations.current(get_settings().database_url)


@catalog_cli.command("validate")
def catalog_validate() -> None:
    """Validate every catalog file; exit 1 naming the file, record and field of the first error."""
    from app.services.catalog import load_catalog

    settings = get_settings()
    try:
        catalog = load_catalog(settings.catalog_dir)
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    console.print(
        f"catalog {catalog.version}: {len(catalog.gpus)} GPUs, {len(catalog.prices)} prices, "
        f"{len(catalog.models)} models, {len(catalog.offers)} offers: valid"
    )


@catalog_cli.command("sync")
def catalog_sync() -> None:
    """Sync the catalog files into the database (idempotent)."""
    from app.db import make_engine, make_sessionmaker
    from app.services.catalog import load_catalog, sync_catalog_into

    settings = get_settings()
    try:
        catalog = load_catalog(settings.catalog_dir)
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    engine = make_engine(settings.database_url)
    try:
        report = sync_catalog_into(make_sessionmaker(engine), catalog)
    finally:
        engine.dispose()
    console.print(
        f"catalog {report.version}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {report.unchanged} unchanged"
    )


@catalog_cli.command("import-offers")
def catalog_import_offers(
    path: Annotated[
        Path, typer.Argument(help="A skypilot-catalog checkout, or a folder of <cloud>/vms.csv.")
    ],
    cloud: Annotated[
        list[str] | None, typer.Option(help="Only these clouds (repeat), e.g. aws, gcp.")
    ] = None,
    commit: Annotated[
        str | None, typer.Option(help="Source commit, where PATH is not a git checkout.")
    ] = None,
    observed: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD the prices were read, where PATH is not a git checkout."),
    ] = None,
) -> None:
    """Write catalog/offers/<provider>.yaml from SkyPilot's vms.csv files (idempotent)."""
    import datetime as dt

    from app.services.offers_import import import_skypilot_offers

    settings = get_settings()
    try:
        day = dt.date.fromisoformat(observed) if observed else None
    except ValueError:
        raise _fail(f"--observed: '{observed}' is not a date written YYYY-MM-DD") from None
    try:
        report = import_skypilot_offers(
            path, settings.catalog_dir, clouds=cloud, commit=commit, observed=day
        )
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    for row in report.rejected:
        err_console.print(f"rejected: {row}")
    for name, rows in sorted(report.unknown_accelerators.items()):
        err_console.print(f"skipped: accelerator {name} not mapped ({rows} rows)")
    written = ", ".join(f"{p} {n}" for p, n in sorted(report.written.items()))
    console.print(
        f"offers from commit {report.commit or 'unknown'} observed {report.observed}: {written}"
    )
    if report.rejected:
        raise typer.Exit(code=1)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


@cli.command("gpus")
def list_gpus_command(
    vendor: Annotated[str | None, typer.Option(help="nvidia, amd or intel.")] = None,
    segment: Annotated[
        str | None, typer.Option(help="consumer, workstation or datacenter.")
    ] = None,
    min_memory_gb: Annotated[float | None, typer.Option(help="Minimum memory in GB.")] = None,
    q: Annotated[str | None, typer.Option(help="Match on id or name.")] = None,
    sort: Annotated[str, typer.Option(help="Sort field, e.g. memory_gb, bf16_tflops.")] = "id",
    desc: Annotated[bool, typer.Option(help="Sort descending.")] = False,
) -> None:
    """Print catalog GPUs as a table (reads the database; run `catalog sync` first)."""
    from pydantic import ValidationError

    from app.db import make_engine, make_sessionmaker, session_scope
    from app.schemas.catalog import Segment, Vendor
    from app.schemas.gpu import GpuFilters, GpuSort
    from app.services.gpus import list_gpus

    try:
        filters = GpuFilters(
            vendor=Vendor(vendor).value if vendor else None,
            segment=Segment(segment).value if segment else None,
            min_memory_gb=min_memory_gb,
            q=q,
        )
        sort_field = GpuSort(sort).value
    except (ValueError, ValidationError) as exc:
        raise _fail(str(exc)) from None
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            page = list_gpus(
                session, filters, sort=sort_field, descending=desc, limit=500, offset=0
            )
    finally:
        engine.dispose()
    table = Table(title=f"{page.total} GPUs (dense peak figures)")
    columns: list[tuple[str, Literal["left", "right"]]] = [
        ("id", "left"),
        ("memory GB", "right"),
        ("bandwidth GB/s", "right"),
        ("bf16 TFLOP/s", "right"),
        ("fp32 TFLOP/s", "right"),
        ("TDP W", "right"),
        ("platform", "left"),
    ]
    for column, justify in columns:
        table.add_column(column, justify=justify, no_wrap=column == "id")
    for gpu in page.items:
        table.add_row(
            gpu.id,
            _fmt(gpu.memory_gb, 0),
            _fmt(gpu.memory_bandwidth_gb_s, 0),
            _fmt(gpu.peak_tflops.bf16),
            _fmt(gpu.peak_tflops.fp32),
            _fmt(gpu.tdp_w, 0),
            gpu.ecosystem.platform.value,
        )
    console.print(table)


def _with_session(fn: Callable[[Session], T]) -> T:
    """Run fn(session) in one transaction, committed when fn returns."""
    from app.db import make_engine, make_sessionmaker, session_scope

    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return fn(session)
    finally:
        engine.dispose()


@token_cli.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="A name for who uses it, e.g. gpu-host-1.")],
) -> None:
    """Create a token; it is printed once and stored only as a SHA-256 digest."""
    from app.services.auth import create_token

    try:
        token = _with_session(lambda s: create_token(s, name))
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    console.print(f"token '{name}' (shown once, keep it secret):")
    print(token)


@token_cli.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token by name; requests with it get 401 from now on."""
    from app.services.auth import revoke_token

    try:
        _with_session(lambda s: revoke_token(s, name))
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    console.print(f"revoked '{name}'")


@token_cli.command("list")
def token_list() -> None:
    """List tokens (names and dates; the tokens themselves are not stored)."""
    from app.services.auth import list_tokens

    rows = _with_session(list_tokens)
    table = Table(title="API tokens")
    for column in ("name", "created", "last used", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(str(row[k] or "—") for k in ("name", "created_at", "last_used_at", "revoked_at"))
        )
    console.print(table)


@probes_cli.command("list")
def probes_list(
    gpu: Annotated[str | None, typer.Option(help="Only runs of this catalog GPU id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many, newest first.")] = 50,
) -> None:
    """List stored probe runs, newest first (retracted ones marked)."""
    from app.services.probe_results import list_runs

    rows = _with_session(lambda s: list_runs(s, limit, gpu))
    table = Table(title="Probe runs")
    for column in ("id", "status", "source", "device", "gpu", "by", "finished", "retracted"):
        table.add_column(column)
    for run in rows:
        table.add_row(
            str(run.id), run.status, run.source, run.device_kind or "—",
            run.gpu_id or (run.partition or "—"), run.submitted_by or "—",
            str(run.finished_at or "—"), str(run.retracted_at or "—"),
        )  # fmt: skip
    console.print(table)


@probes_cli.command("show")
def probes_show(run_id: Annotated[int, typer.Argument(help="The run's id.")]) -> None:
    """Print one run as JSON (device, results, self-check)."""
    from app.services.catalog import load_catalog
    from app.services.probe_results import read_run

    try:
        run = _with_session(lambda s: read_run(s, run_id, load_catalog(get_settings().catalog_dir)))
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    print(run.model_dump_json(indent=2))


@probes_cli.command("delete")
def probes_delete(run_id: Annotated[int, typer.Argument(help="The run's id.")]) -> None:
    """Retract a run: it stays readable but no longer feeds any estimate."""
    import getpass

    from app.services.probe_results import retract_run

    who = f"cli:{getpass.getuser()}"
    try:
        _with_session(lambda s: retract_run(s, run_id, who))
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    console.print(f"retracted probe run {run_id}")


@cli.command("validate")
def validate_command(
    write_error_band: Annotated[
        bool,
        typer.Option(help="Write catalog/error_bands.yaml from this run (estimates quote it)."),
    ] = False,
    rows: Annotated[bool, typer.Option(help="Print every scored figure too.")] = False,
) -> None:
    """Score the estimator out of sample (leave-one-source-out) against published measurements
    (tests/data/validation.yaml and tests/data/validation/*.yaml), beside llm-analysis and a
    flat-0.5-MFU rule."""
    import yaml

    from app.services.catalog import ERROR_BAND_FILE, load_catalog
    from app.services.validation import (
        compare_llm_analysis,
        error_band_from,
        llm_analysis_predictions,
        run_validation,
        score_families,
    )

    settings = get_settings()
    catalog = load_catalog(settings.catalog_dir)
    report = run_validation(catalog)
    if rows:
        table = Table(title="Every scored figure (error = predicted / measured - 1, uncalibrated)")
        for column in ("row", "GPUs", "family", "metric", "measured", "ours", "error", "flat 0.5"):
            table.add_column(column, overflow="fold")
        for row in report.rows:
            flat = (
                f"{100.0 * (row.flat_rule - row.measured) / row.measured:+.1f}%"
                if row.flat_rule
                else "—"
            )
            table.add_row(
                row.id,
                f"{row.count}x {row.gpu}",
                row.family,
                row.metric,
                f"{row.measured:,.4g}",
                f"{row.predicted:,.4g}" if row.predicted is not None else "—",
                f"{row.error_pct:+.1f}%" if row.error_pct is not None else "—",
                flat,
            )
        console.print(table)
        for fit in report.fits:
            console.print(
                f"fit {fit.id}: measured {'fits' if fit.measured else 'OOM'}, ours "
                f"{fit.predicted_gb:.1f} of {fit.capacity_gb:.1f} GB -> "
                f"{'fits' if fit.predicted else 'OOM'} {'ok' if fit.correct else 'WRONG'}"
            )
    scores = score_families(report)
    per_source = Table(title="Per source, out of sample: median |error| (fit: % verdicts right)")
    for column in ("family", "source", "figures", "median |error|"):
        per_source.add_column(column, overflow="fold")
    for family, sc in scores.items():
        for group, (n, value) in sorted(sc.per_source.items(), key=lambda kv: -kv[1][1]):
            shown = f"{value:.0f}% right" if family == "fit" else f"{value:.1f}%"
            per_source.add_row(family, group, str(n), shown)
    console.print(per_source)
    summary = Table(title="Per family, out of sample (leave-one-source-out)")
    for column in (
        "family",
        "figures",
        "sources",
        "ours raw",
        "ours LOSO-scaled",
        "quoted (p75)",
        "scale (all)",
        "flat 0.5 MFU",
    ):
        summary.add_column(column)

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}%"

    for family, sc in scores.items():
        if family == "fit":
            summary.add_row(
                family,
                str(sc.rows),
                str(sc.sources),
                f"{pct(sc.accuracy_pct)} right",
                "—",
                "—",
                "—",
                "—",
            )
            continue
        summary.add_row(
            family,
            str(sc.rows),
            str(sc.sources),
            pct(sc.raw_median_pct),
            pct(sc.loso_median_pct) + (" (used)" if sc.calibrate else ""),
            pct(sc.p75_pct),
            f"{sc.scale_all_sources:.3f}",
            f"{pct(sc.flat_median_pct)} on {sc.flat_rows}" if sc.flat_rows else "—",
        )
    console.print(summary)
    for family, sc in scores.items():
        flat_pct, ours_pct = sc.flat_median_pct, sc.median_pct
        if flat_pct is not None and ours_pct is not None and flat_pct < ours_pct:
            console.print(
                f"[bold]{family}: the flat 0.5-MFU rule ({flat_pct:.1f}%) beats the detailed model "
                f"({ours_pct:.1f}%) on these rows[/] (why: docs/estimator.md, 'Where the flat rule wins')"
            )
    for cmp in compare_llm_analysis(report, llm_analysis_predictions()):
        console.print(
            f"{cmp.family}: on the {cmp.rows} figures {cmp.name} predicts, median |error| "
            f"{cmp.name} {cmp.theirs_median_pct:.1f}%, ours {cmp.ours_median_pct:.1f}%"
        )
    for row_id, reason in report.skipped:
        console.print(f"[dim]not scored: {row_id}: {reason}[/]")
    from app.services.serving_validation import format_report, run_serving_validation

    console.print("serving family (tests/data/validation/serving-*.yaml, out of sample):")
    console.print(format_report(run_serving_validation(catalog)), markup=False, highlight=False)
    if write_error_band:
        band = error_band_from(report)
        path = settings.catalog_dir / ERROR_BAND_FILE
        header = (
            "# Written by `gpu-advisor validate --write-error-band` (leave-one-source-out error per\n"
            "# family); estimates quote it. Do not edit by hand.\n"
        )
        path.write_text(header + yaml.safe_dump(band, sort_keys=True))
        console.print(f"wrote {path}")


@cli.command("estimate")
def estimate_command(
    gpu: Annotated[str, typer.Option(help="Catalog GPU id.")],
    preset: Annotated[str | None, typer.Option(help="Model preset id.")] = None,
    parameters: Annotated[
        float | None, typer.Option(help="Bare parameter count, e.g. 7e9.")
    ] = None,
    hf_config: Annotated[Path | None, typer.Option(help="Path to a config.json.")] = None,
    count: Annotated[int, typer.Option(help="Number of GPUs.")] = 1,
    task: Annotated[
        str, typer.Option(help="pretrain, finetune, lora, qlora, inference.")
    ] = "pretrain",
    precision: Annotated[str, typer.Option(help="fp32, tf32, bf16, fp16, fp8.")] = "bf16",
    seq_len: Annotated[int, typer.Option(help="Tokens per sequence.")] = 2048,
    micro_batch: Annotated[int, typer.Option(help="Sequences per GPU step.")] = 1,
    global_batch: Annotated[int | None, typer.Option(help="Sequences per optimizer step.")] = None,
    tokens: Annotated[float | None, typer.Option(help="Training tokens, e.g. 2e12.")] = None,
    checkpointing: Annotated[str, typer.Option(help="none, selective, full.")] = "none",
    zero_stage: Annotated[int, typer.Option(help="ZeRO stage 0-3.")] = 0,
    tensor: Annotated[int, typer.Option(help="Tensor-parallel degree.")] = 1,
    pipeline: Annotated[int, typer.Option(help="Pipeline stages.")] = 1,
    request: Annotated[
        Path | None, typer.Option(help="A full JSON request (overrides the rest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON response.")] = False,
) -> None:
    """Estimate memory, fit, time, cost and energy for one model and workload on one GPU choice."""
    import json

    from pydantic import ValidationError

    from app.schemas.estimate import EstimateRequest
    from app.services.catalog import load_catalog
    from app.services.estimate import run_estimate

    try:
        if request is not None:
            body = json.loads(request.read_text())
        else:
            model: dict[str, object] = {}
            if preset:
                model["preset"] = preset
            if parameters:
                model["parameters"] = parameters
            if hf_config:
                model["hf_config"] = json.loads(hf_config.read_text())
            body = {
                "model": model,
                "workload": {
                    "task": task,
                    "precision": precision,
                    "seq_len": seq_len,
                    "micro_batch": micro_batch,
                    "global_batch": global_batch,
                    "tokens": tokens,
                    "activation_checkpointing": checkpointing,
                    "parallelism": {
                        "zero_stage": zero_stage,
                        "tensor": tensor,
                        "pipeline": pipeline,
                    },
                },
                "hardware": {"gpu": gpu, "count": count},
            }
        parsed = EstimateRequest.model_validate(body)
        result = run_estimate(parsed, load_catalog(get_settings().catalog_dir))
    except ValidationError as exc:
        from app.errors import format_validation_errors

        raise _fail(format_validation_errors(exc.errors())) from None
    except (AdvisorError, OSError, json.JSONDecodeError) as exc:
        raise _fail(getattr(exc, "message", str(exc))) from None
    if as_json:
        console.print_json(result.model_dump_json())
        return
    _print_estimate(result)


@cli.command("recommend")
def recommend_command(
    preset: Annotated[str | None, typer.Option(help="Model preset id.")] = None,
    parameters: Annotated[
        float | None, typer.Option(help="Bare parameter count, e.g. 7e9.")
    ] = None,
    task: Annotated[
        str, typer.Option(help="pretrain, finetune, lora, qlora, inference.")
    ] = "finetune",
    precision: Annotated[str, typer.Option(help="fp32, tf32, bf16, fp16, fp8.")] = "bf16",
    seq_len: Annotated[int, typer.Option(help="Tokens per sequence.")] = 2048,
    tokens: Annotated[float | None, typer.Option(help="Training tokens, e.g. 1e9.")] = None,
    max_gpus: Annotated[int, typer.Option(help="Largest GPU count.")] = 8,
    max_budget_usd: Annotated[float | None, typer.Option(help="Budget in USD.")] = None,
    max_hours: Annotated[float | None, typer.Option(help="Wall-clock limit.")] = None,
    vendor: Annotated[
        list[str] | None, typer.Option(help="Repeatable: nvidia, amd, intel.")
    ] = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="Repeatable: consumer, workstation, datacenter.")
    ] = None,
    framework: Annotated[str | None, typer.Option(help="pytorch, jax, tensorflow.")] = None,
    cloud_priced_only: Annotated[bool, typer.Option(help="Only GPUs with a cloud price.")] = False,
    objective: Annotated[str, typer.Option(help="fastest, cheapest, balanced.")] = "balanced",
    acquisition: Annotated[str, typer.Option(help="rent, buy (GPUs + hosts), own.")] = "rent",
    top: Annotated[int, typer.Option(help="Rows to print.")] = 15,
    request: Annotated[
        Path | None, typer.Option(help="A full JSON request (overrides the rest).")
    ] = None,
) -> None:
    """Rank the catalog's GPUs for a job, as POST /api/v1/recommend does."""
    import json

    from pydantic import ValidationError

    from app.errors import format_validation_errors
    from app.schemas.recommend import RecommendRequest
    from app.services.catalog import load_catalog
    from app.services.recommend import recommend

    if request is not None:
        body = json.loads(request.read_text())
    else:
        model: dict[str, object] = {"preset": preset} if preset else {"parameters": parameters}
        constraints: dict[str, object] = {
            "max_gpus": max_gpus,
            "cloud_priced_only": cloud_priced_only,
        }
        for key, value in (("max_budget_usd", max_budget_usd), ("max_hours", max_hours), ("framework", framework),
                           ("vendors", vendor), ("segments", segment)):  # fmt: skip
            if value:
                constraints[key] = value
        workload = {"task": task, "precision": precision, "seq_len": seq_len, "tokens": tokens}
        body = {
            "model": model,
            "workload": workload,
            "constraints": constraints,
            "objective": objective,
            "acquisition": acquisition,
        }
    try:
        answer = recommend(
            RecommendRequest.model_validate(body), load_catalog(get_settings().catalog_dir)
        )
    except ValidationError as exc:
        raise _fail(format_validation_errors(exc.errors())) from None
    except AdvisorError as exc:
        raise _fail(exc.message) from None
    table = Table(title=f"{answer.objective.value}: best of {answer.considered} GPUs")
    for column in (
        "#",
        "GPU",
        "GPUs",
        "verdict",
        "changes",
        "hours",
        "USD",
        "GB/GPU",
        "bottleneck",
        "Pareto",
    ):
        table.add_column(column, overflow="fold")
    for option in answer.options[:top]:
        table.add_row(
            str(option.rank or "—"),
            option.gpu,
            str(option.count),
            option.verdict.value,
            ", ".join(option.changes) or "—",
            _fmt(option.total_hours),
            _fmt(option.usd, 2) if option.usd is not None else "no price",
            f"{_fmt(option.memory_per_gpu_gb)} / {option.capacity_gb:.0f}",
            (option.bottleneck or "—").replace("_", " "),
            "*" if option.pareto else "",
        )
    console.print(table)
    console.print(f"[dim]{len(answer.excluded)} GPUs excluded by constraints[/]")


def _print_estimate(result: Estimate) -> None:
    memory, time = result.memory, result.time
    verdict = "[green]fits[/]" if memory.fits else "[red]does not fit[/]"
    console.print(
        f"[bold]{result.hardware.count} x {result.hardware.name}[/]: {verdict} "
        f"({memory.total_per_gpu_gb:.1f} of {memory.capacity_gb:.1f} GB per GPU; "
        f"largest micro-batch {memory.max_micro_batch}; fewest GPUs that fit {memory.min_gpus_to_fit})"
    )
    parts = memory.per_gpu_bytes.model_dump()
    console.print(
        "  memory per GPU: " + ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in parts.items())
    )
    console.print(
        f"  step {time.step_seconds:.3g} s, total {time.total_seconds / 3600:,.1f} h, "
        f"{time.tokens_per_second:,.0f} tokens/s ({time.per_gpu_tokens_per_second:,.0f} per GPU), "
        f"MFU {time.mfu:.1%}, bottleneck {result.bottleneck}"
    )
    if result.inference:
        console.print(
            f"  time to first token {result.inference.time_to_first_token_s * 1e3:.1f} ms, "
            f"decode {result.inference.decode_tokens_per_second:,.0f} tokens/s"
        )
    cost = result.cost
    price = (
        f"${cost.usd:,.2f} at ${cost.price_per_gpu_hour_usd:.2f}/GPU-h ({cost.price_source})"
        if cost.usd is not None
        else "no price"
    )
    console.print(f"  {cost.gpu_hours:,.1f} GPU-hours, {price}")
    console.print(f"  energy {result.energy.kwh:,.1f} kWh, {result.energy.co2_kg:,.1f} kg CO2")
    console.print(
        f"  error band: time ±{result.error_band.time_pct:g}%, memory ±{result.error_band.memory_pct:g}% "
        f"({result.error_band.basis})"
    )
    for line in result.warnings:
        console.print(f"  [yellow]warning:[/] {line}")
    for line in result.suggestions:
        console.print(f"  [cyan]to fit:[/] {line}")
    for line in result.assumptions:
        console.print(f"  [dim]assumes: {line}[/]")


@saved_cli.command("prune")
def saved_prune() -> None:
    """Delete saved recommendations older than ADVISOR_SAVED_RESULTS_DAYS (run it daily)."""
    from app.db import make_engine, make_sessionmaker
    from app.services.saved_results import prune

    settings = get_settings()
    if settings.saved_results_days == 0:
        console.print("ADVISOR_SAVED_RESULTS_DAYS=0: saved results are kept forever")
        return
    engine = make_engine(settings.database_url)
    try:
        deleted = prune(make_sessionmaker(engine), settings)
    finally:
        engine.dispose()
    console.print(
        f"deleted {deleted} saved recommendation(s) older than {settings.saved_results_days} days"
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
