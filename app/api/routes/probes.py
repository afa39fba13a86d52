"""Probe runs: start one here, read its progress and results, accept a remote agent's JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import CatalogDep, RateLimit, SessionDep, SessionFactoryDep, SettingsDep, TokenDep
from app.errors import AdvisorError, format_validation_errors
from app.schemas.errors import responses
from app.schemas.probes import (
    MAX_SUBMISSION_BYTES,
    ProbeRunCreate,
    ProbeRunRead,
    ProbeRunSummary,
    ProbeSubmission,
)
from app.services import probe_results, probe_runner

router = APIRouter(prefix="/api/v1", tags=["probes"])

# The body of POST /probe-results is read by hand (streamed, size-capped), so FastAPI cannot
# see it: it is declared here, and the schema is added to the components (app/api/openapi.py).
_SUBMISSION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ProbeSubmission"}}
        },
    }
}


# OpenAPI link: follow a started run (schemathesis' stateful phase uses it too).
RUN_LINK = {
    "GetProbeRun": {
        "operationRef": "#/paths/~1api~1v1~1probe-runs~1{run_id}/get",
        "parameters": {"run_id": "$response.body#/id"},
    }
}


class PayloadTooLargeError(AdvisorError):
    status_code = 413


@router.post(
    "/probe-runs",
    response_model=ProbeRunRead,
    status_code=202,
    dependencies=[RateLimit],
    operation_id="create_probe_run",
    responses={
        **responses(401, 409, 413, 422, 429, 503),
        202: {"description": "The run, started", "links": RUN_LINK},
    },
)
def start_probe_run(
    body: ProbeRunCreate,
    _token: TokenDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    catalog: CatalogDep,
) -> ProbeRunRead:
    """Start the JAX probes here in a subprocess (bearer token; one run at a time, else 409)."""
    return probe_runner.start_local_run(factory, settings, body, catalog)


@router.get(
    "/probe-runs/{run_id}",
    response_model=ProbeRunRead,
    operation_id="get_probe_run",
    responses=responses(404, 422, 503),
)
def get_probe_run(
    session: SessionDep, catalog: CatalogDep, run_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> ProbeRunRead:
    """A probe run: status, progress, results, and the estimator's self-check."""
    return probe_results.read_run(session, run_id, catalog)


@router.get(
    "/probe-runs",
    response_model=list[ProbeRunSummary],
    operation_id="list_probe_runs",
    responses=responses(422, 503),
)
def list_probe_runs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Most runs returned (1-500).")] = 50,
    gpu: Annotated[str | None, Query(max_length=80, description="Only this GPU id.")] = None,
) -> list[ProbeRunSummary]:
    """The newest probe runs, one line each (retracted ones included, marked)."""
    return probe_results.list_runs(session, limit, gpu)


@router.delete(
    "/probe-runs/{run_id}",
    response_model=ProbeRunSummary,
    operation_id="retract_probe_run",
    responses=responses(401, 404, 422, 429, 503),
)
def retract_probe_run(
    token_name: TokenDep, session: SessionDep, run_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> ProbeRunSummary:
    """Retract a run (bearer token): it stays readable but no longer feeds any estimate."""
    return probe_results.retract_run(session, run_id, token_name)


@router.post(
    "/probe-results",
    response_model=ProbeRunRead,
    status_code=201,
    operation_id="submit_probe_results",
    responses=responses(401, 413, 422, 503),
    openapi_extra=_SUBMISSION_BODY,
)
async def submit_probe_results(
    request: Request, token_name: TokenDep, session: SessionDep, catalog: CatalogDep
) -> ProbeRunRead:
    """Store results a remote agent measured (`python -m probes run --submit URL --token T`)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SUBMISSION_BYTES:
            raise PayloadTooLargeError(f"submission larger than {MAX_SUBMISSION_BYTES} bytes")
    try:
        submission = ProbeSubmission.model_validate_json(bytes(body))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        raise AdvisorError(
            "invalid probe submission: " + format_validation_errors(errors),
            detail=[{"loc": list(e["loc"]), "msg": e["msg"]} for e in errors],
            status_code=422,
        ) from None
    return await run_in_threadpool(
        probe_results.submit_remote, session, submission, catalog, token_name
    )
