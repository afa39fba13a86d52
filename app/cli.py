"""`gpu-advisor`: serve the app, migrate the database, check and sync the catalog, list GPUs."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.config import get_settings
from app.errors import AdvisorError

cli = typer.Typer(
    help="GPU Advisor: which GPU, how many, how long, how much, will it fit.", no_args_is_help=True
)
db_cli = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
catalog_cli = typer.Typer(help="The GPU catalog files.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(catalog_cli, name="catalog")

console = Console()
err_console = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=1)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default ADVISOR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default ADVISOR_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = False,
) -> None:
    """Serve the web app and API with uvicorn."""
    import uvicorn

    settings = get_settings()
    if migrate:
        from app import migrate as migrations

        migrations.upgrade(settings.database_url)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level,
    )


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
        f"{len(catalog.models)} models: valid"
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
        for session in session_scope(make_sessionmaker(engine)):
            page = list_gpus(
                session, filters, sort=sort_field, descending=desc, limit=500, offset=0
            )
    finally:
        engine.dispose()
    table = Table(title=f"{page.total} GPUs (dense peak figures)")
    for column, justify in [
        ("id", "left"),
        ("memory GB", "right"),
        ("bandwidth GB/s", "right"),
        ("bf16 TFLOP/s", "right"),
        ("fp32 TFLOP/s", "right"),
        ("TDP W", "right"),
        ("platform", "left"),
    ]:
        table.add_column(column, justify=justify, no_wrap=column == "id")  # type: ignore[arg-type]
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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
