"""Server-rendered pages: the recommendation form, results, the catalog and a GPU."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import (
    CatalogDep,
    ComputeDep,
    RateLimit,
    SessionDep,
    SessionFactoryDep,
    SettingsDep,
)
from app.config import Settings
from app.errors import AdvisorError, InvalidInputError
from app.schemas.catalog import ID_PATTERN, Segment, Vendor
from app.schemas.gpu import GpuFilters
from app.schemas.recommend import RecommendRequest, RecommendResponse
from app.services import catalog as catalog_service
from app.services import gpus as gpu_service
from app.services import recommend as recommend_service
from app.services import saved_results
from app.services.serve_recommend import serving_curve
from app.web.forms import (
    DEFAULTS,
    LABELS,
    form_values,
    parse_form,
    service_errors,
    values_from_request,
)

router = APIRouter(include_in_schema=False)


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    templates = request.app.state.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response


def _form_context(catalog: Any, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "labels": LABELS,
        "presets": catalog_service.list_models(catalog),
        "vendors": [v.value for v in Vendor],
        "segments": [s.value for s in Segment],
    }


_RESULT_ID = Query(
    alias="from",
    min_length=4,
    max_length=16,
    pattern=r"^[A-Za-z0-9_-]+$",
    description="A saved result whose inputs refill the form.",
)


@router.get("/", response_class=HTMLResponse)
def show_form(
    request: Request,
    catalog: CatalogDep,
    session: SessionDep,
    from_result: Annotated[str | None, _RESULT_ID] = None,
) -> HTMLResponse:
    """The recommendation form; `?from=<id>` refills it with a saved result's inputs."""
    values = dict(DEFAULTS)
    if from_result is not None:
        saved_request, _, _ = saved_results.get_saved(
            session, from_result, request.app.state.settings
        )
        values = values_from_request(saved_request)
    return _render(request, "index.html", _form_context(catalog, values, {}))


@router.post("/", response_class=HTMLResponse, dependencies=[RateLimit])
async def submit_form(
    request: Request, catalog: CatalogDep, factory: SessionFactoryDep, compute: ComputeDep
) -> Response:
    """Rank the catalog for the submitted job; field errors re-render the form."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    vendors = [v for v in form.getlist("vendors") if isinstance(v, str)]
    segments = [s for s in form.getlist("segments") if isinstance(s, str)]
    values = form_values(fields) | {"vendors": vendors, "segments": segments}
    parsed, errors = parse_form(fields, vendors, segments)
    if parsed is None:
        return _render(
            request, "index.html", _form_context(catalog, values, errors), status_code=422
        )
    try:
        answer = await compute.run(saved_results.recommend_for_form, factory, parsed, catalog)
    except AdvisorError as exc:
        if exc.status_code >= 500:
            raise
        errors = service_errors(exc.fields, exc.message, fields.get("model_source", "preset"))
        return _render(
            request,
            "index.html",
            _form_context(catalog, values, errors),
            status_code=exc.status_code,
        )
    if answer.id is None:  # too large to keep (saved_results.SAVED_RESULT_MAX_BYTES): show it once
        return _render(
            request, "results.html", _result_context(request, answer, parsed, catalog.version)
        )
    return RedirectResponse(f"/r/{answer.id}", status_code=303)


@router.get("/r/{recommendation_id}", response_class=HTMLResponse)
def show_result(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    recommendation_id: Annotated[
        str, Path(min_length=4, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    ],
) -> HTMLResponse:
    """A saved recommendation: ranking, memory bars, time-cost chart, basis."""
    saved_request, answer, catalog_version = saved_results.get_saved(
        session, recommendation_id, settings
    )
    return _render(
        request, "results.html", _result_context(request, answer, saved_request, catalog_version)
    )


def _result_context(
    request: Request, answer: RecommendResponse, req: RecommendRequest, catalog_version: str
) -> dict[str, Any]:
    """What results.html shows; the share link comes from ADVISOR_PUBLIC_URL when set, else it
    is relative to the page, never built from the Host header (a forged Host forges the link)."""
    settings: Settings = request.app.state.settings
    share_path = f"/r/{answer.id}" if answer.id else None
    public = settings.public_url.rstrip("/") if settings.public_url else ""
    return {
        "answer": answer,
        "req": req,
        "catalog_version": catalog_version,
        "share_path": share_path,
        "share_url": f"{public}{share_path}" if share_path else None,
        "edit_path": f"/?from={answer.id}" if answer.id else None,
        "chart_options": recommend_service.chart_points(answer),
        "serving_curve": serving_curve(answer),
    }


def _choice(value: str | None, kind: type[Vendor] | type[Segment], field: str) -> str | None:
    """An optional filter from a GET form: empty means no filter; anything else must be valid."""
    if not value:
        return None
    try:
        return kind(value).value
    except ValueError:
        allowed = ", ".join(k.value for k in kind)
        raise InvalidInputError(f"{field} must be one of {allowed}, got '{value}'") from None


@router.get("/gpus", response_class=HTMLResponse)
def show_catalog(
    request: Request,
    session: SessionDep,
    vendor: Annotated[str | None, Query(max_length=20)] = None,
    segment: Annotated[str | None, Query(max_length=20)] = None,
    min_memory_gb: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """The catalog as a sortable, filterable table (the filter form sends empty fields)."""
    try:
        memory = float(min_memory_gb) if min_memory_gb else None
    except ValueError:
        raise InvalidInputError(f"min_memory_gb must be a number, got '{min_memory_gb}'") from None
    if memory is not None and not 0 <= memory <= 100_000:
        raise InvalidInputError("min_memory_gb must be between 0 and 100000")
    filters = GpuFilters(
        vendor=_choice(vendor, Vendor, "vendor"),
        segment=_choice(segment, Segment, "segment"),
        min_memory_gb=memory,
        q=q or None,
    )
    page = gpu_service.list_gpus(
        session, filters, sort="vendor", descending=False, limit=500, offset=0
    )
    return _render(
        request,
        "gpus.html",
        {
            "page": page,
            "filters": {"vendor": filters.vendor or "", "segment": filters.segment or "",
                        "min_memory_gb": min_memory_gb or "", "q": q or ""},
            "vendors": [v.value for v in Vendor],
            "segments": [s.value for s in Segment],
        },
    )  # fmt: skip


@router.get("/gpus/{gpu_id}", response_class=HTMLResponse)
def show_gpu(
    request: Request,
    session: SessionDep,
    gpu_id: Annotated[str, Path(max_length=80, pattern=ID_PATTERN)],
) -> HTMLResponse:
    """One GPU: spec, sources, prices, and probe measurements beside the datasheet."""
    return _render(request, "gpu.html", {"gpu": gpu_service.get_gpu(session, gpu_id)})
