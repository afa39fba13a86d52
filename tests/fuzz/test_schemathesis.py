"""Fuzz every API operation from the app's own OpenAPI schema (schemathesis): zero 5xx.

Bounded: MAX_EXAMPLES generated cases per operation; the total is printed at the end of the run.
Runs in-process against a migrated SQLite database with the real catalog.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import status_code_conformance

from app import migrate
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.main import create_app
from app.services.catalog import LoadedCatalog, sync_catalog_into
from tests.conftest import CATALOG_DIR

MAX_EXAMPLES = 200
CASES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, catalog: LoadedCatalog) -> Iterator[object]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'fuzz.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sync_catalog_into(make_sessionmaker(engine), catalog)
    engine.dispose()
    app = create_app(
        Settings(
            database_url=url,
            catalog_dir=CATALOG_DIR,
            sync_catalog_on_start=False,
            rate_limit_enabled=False,
            log_json=False,
            probe_python="/nonexistent/python",  # a fuzzed, authorized probe run must not start JAX
        )
    )
    from fastapi.testclient import TestClient

    with TestClient(app):  # runs the lifespan: catalog loaded, engine open
        yield app


def test_no_operation_answers_5xx(fuzz_app: object) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            CASES[f"{case.method} {case.path}"] += 1
            response = case.call()
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path} -> {response.status_code}: {response.text[:300]}"
                )
            case.validate_response(response, checks=(status_code_conformance,))

        run()
    assert failures == []
    assert len(CASES) >= 8


def fuzz_summary() -> str:
    summary = f"schemathesis: {sum(CASES.values())} cases over {len(CASES)} operations, no 5xx"
    if STEPS:
        summary += f"; stateful: {sum(STEPS.values())} linked steps, no 5xx"
    return summary


STATEFUL_EXAMPLES = 25
STEPS: Counter[str] = Counter()


def test_stateful_sequences_following_the_schema_links_answer_no_5xx(fuzz_app: object) -> None:
    """The stateful phase: sequences that feed one response into the next request through the
    schema's links (a saved recommendation's id into GET /recommendations/{id}, a GPU listed by
    GET /gpus into GET /gpus/{id}); no step may answer 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    raw = schema.raw_schema
    links = [
        name
        for path in raw["paths"].values()
        for operation in path.values()
        for response in operation.get("responses", {}).values()
        for name in response.get("links", {})
    ]
    assert "GetSavedRecommendation" in links
    failures: list[str] = []
    machine = schema.as_state_machine()

    class NoServerErrors(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response: object, case: schemathesis.Case, **_: object) -> None:
            STEPS[f"{case.method} {case.path}"] += 1
            status = getattr(response, "status_code", 0)
            if status >= 500:
                failures.append(f"{case.method} {case.path} -> {status}")

    NoServerErrors.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
    )
    assert failures == []
    # Steps reachable only by following a link ran: GET /gpus/{id} is not a root rule, it is
    # fed from GET /gpus. (Whether a generated recommend body is valid enough to be saved, and
    # its link followed, depends on the draw; tests/api/test_recommend.py covers that path.)
    linked = (
        STEPS["GET /api/v1/gpus/{gpu_id}"]
        + STEPS["GET /api/v1/recommendations/{recommendation_id}"]
    )
    assert linked > 0, STEPS
