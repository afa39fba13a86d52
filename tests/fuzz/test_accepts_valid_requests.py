"""Schemathesis: a request the OpenAPI document calls valid is not rejected by estimate and
recommend (schemathesis's positive_data_acceptance: 2xx, or 401/403/404/409/429).

JSON Schema states one-of-four (`oneOf`), the preset ids, owned GPU ids and config.json
families (`enum`), ranges, "epochs needs samples" and "acquisition own needs owned GPUs"
(`if`/`then`); it cannot compare two numbers nor look a value up in the catalog. The few
rules that do (CROSS_FIELD_RULES, each stated in the field's description), the inside of a
pasted config.json (Hugging Face's format, not restated in this schema: errors located under
model.hf_config) and a whole-number float sent for a strict integer (`8.0`: JSON Schema's
`integer` admits it and cannot say "no decimal point"; the API takes integers as integers) are
the only rejections allowed; anything else fails the test."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from app import migrate
from app.config import Settings
from app.db import make_engine, make_sessionmaker
from app.main import create_app
from app.services.catalog import LoadedCatalog, sync_catalog_into
from tests.conftest import CATALOG_DIR

MAX_EXAMPLES = 150
ACCEPTED_STATUSES = {401, 403, 404, 409, 429}  # schemathesis's defaults besides 2xx, 3xx, 5xx
CROSS_FIELD_RULES = {
    "global_batch >= micro_batch": r"global_batch \(\d+\) must be >= micro_batch",
    "global_batch a multiple of micro_batch x data-parallel GPUs": r"must be a multiple of micro_batch",
    "heads divide hidden_size": r"heads \(\d+\) must divide hidden_size",
    "kv_heads divide heads": r"kv_heads \(\d+\) must divide heads",
    "experts_per_token <= experts": r"experts_per_token \(\d+\) must be <= experts",
    "tensor x pipeline vs GPU count and heads": r"tensor|pipeline",
    # Divisibility between two fields.
    "gpus_per_node divides the GPU count": r"gpus_per_node \(\d+\) must divide hardware\.count",
    "expert degree divides the data-parallel ranks and the experts": r"expert parallel degree \(\d+\) must divide",
    # Against the chosen GPU's catalog entry (its board power, its architecture).
    "power_limit_w within [TDP/3, TDP] of the GPU": r"power_limit_w must be between",
    "flash attention needs an Ampere or newer GPU": r"attention 'flash' \(FlashAttention-2\) needs",
}
SEEN: Counter[str] = Counter()


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory, catalog: LoadedCatalog) -> Iterator[object]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('accept')) / 'accept.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sync_catalog_into(make_sessionmaker(engine), catalog)
    engine.dispose()
    app = create_app(
        Settings(database_url=url, catalog_dir=CATALOG_DIR, sync_catalog_on_start=False,
                 rate_limit_enabled=False, log_json=False)
    )  # fmt: skip
    from fastapi.testclient import TestClient

    with TestClient(app):
        yield app


def _whole_floats_for_strict_integers(body: dict[str, object], sent: object) -> bool:
    """Every error is `int_type` on a value the request sent as a whole-number float (8.0)."""
    detail = body.get("detail")
    if not isinstance(detail, list) or not detail:
        return False
    for error in detail:
        if not isinstance(error, dict) or error.get("type") != "int_type":
            return False
        value = sent
        for key in error.get("loc", [])[1:]:  # past "body"
            try:
                value = value[key]  # type: ignore[index]
            except (KeyError, IndexError, TypeError):
                return False
        if not (isinstance(value, float) and value.is_integer()):
            return False
    return True


def _located_in_hf_config(body: dict[str, object]) -> bool:
    detail = body.get("detail")
    locations = (
        [d.get("loc", []) for d in detail if isinstance(d, dict)]
        if isinstance(detail, list)
        else []
    )
    return bool(locations) and all(
        list(loc[:3]) == ["body", "model", "hf_config"] for loc in locations
    )


@pytest.mark.parametrize("path", ["/api/v1/estimate", "/api/v1/recommend"])
def test_schema_valid_requests_are_accepted(fuzz_app: object, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    operation = schema[path]["POST"]
    failures: list[str] = []

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
              derandomize=True, database=None)  # fmt: skip
    def run(case: schemathesis.Case) -> None:
        response = case.call()
        status = response.status_code
        if status < 400 or status >= 500 or status in ACCEPTED_STATUSES:
            SEEN[str(status)] += 1
            return
        error = response.json().get("error", "") if status == 422 else ""
        rule = next((n for n, p in CROSS_FIELD_RULES.items() if re.search(p, error)), None)
        if rule is None and status == 422 and _located_in_hf_config(response.json()):
            rule = "inside a pasted config.json"
        if (
            rule is None
            and status == 422
            and _whole_floats_for_strict_integers(response.json(), case.body)
        ):
            rule = "a whole-number float for a strict integer"
        if rule is None:
            failures.append(f"{status} {response.text[:200]} <- {str(case.body)[:600]}")
        else:
            SEEN[rule] += 1

    run()
    assert failures == []
