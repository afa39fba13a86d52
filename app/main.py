"""The application factory: settings in, a FastAPI app out; nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from app import __version__, observability
from app.api import openapi
from app.api.routes import estimate, gpus, health, models, offers, probes, recommend
from app.concurrency import ComputeSlots
from app.config import Settings, get_settings
from app.db import make_engine, make_sessionmaker
from app.errors import install_error_handlers
from app.services.catalog import load_catalog, sync_catalog_into
from app.services.probe_runner import mark_interrupted
from app.services.probe_runner import shutdown as stop_probe_runs
from app.web import routes as web_routes

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
TEMPLATES_DIR = Path(__file__).resolve().parent / "web" / "templates"
SWAGGER_DIR = "/static/vendor/swagger-ui"


def _start(app: FastAPI, settings: Settings) -> None:
    """Open the database and load the catalog; an invalid catalog raises and stops start-up."""
    engine = make_engine(settings.database_url, serving=True)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    catalog = load_catalog(settings.catalog_dir)
    if settings.sync_catalog_on_start:
        sync_catalog_into(app.state.sessionmaker, catalog)
    try:  # probe runs whose server process died can never finish: say so at once
        mark_interrupted(app.state.sessionmaker, settings.probe_heartbeat_stale_s)
    except SQLAlchemyError:
        log.warning("could not check for interrupted probe runs (database not ready?)")
    app.state.catalog = catalog
    log.info(
        "catalog %s loaded: %d GPUs, %d models",
        catalog.version,
        len(catalog.gpus),
        len(catalog.models),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for these settings (the environment's when none are given)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.log_json:
            observability.configure_logging(settings)
        await run_in_threadpool(_start, app, settings)
        try:
            yield
        finally:
            await run_in_threadpool(stop_probe_runs)  # SIGTERM: stop probes, remove temp dirs
            app.state.engine.dispose()

    app = FastAPI(
        title="GPU Advisor",
        version=__version__,
        summary="Which GPU, how many, how long, how much money, and will it fit.",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: the default loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.catalog = None
    app.state.compute = ComputeSlots(settings.compute_slots)
    app.state.templates = Jinja2Templates(directory=TEMPLATES_DIR)
    install_error_handlers(app)
    observability.install(app, settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="GPU Advisor API",
            swagger_js_url=f"{SWAGGER_DIR}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_DIR}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_DIR}/favicon-32x32.png",
        )

    app.include_router(health.router)
    app.include_router(gpus.router)
    app.include_router(models.router)
    app.include_router(estimate.router)
    app.include_router(recommend.router)
    app.include_router(offers.router)
    app.include_router(probes.router)
    app.include_router(web_routes.router)
    openapi.install(app)
    return app
