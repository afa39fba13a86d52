"""A client generated from the app's OpenAPI document (openapi-python-client) works: clean
names, and estimate and recommend called through it against a live server on loopback."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.main import create_app
from tests.servers import running_server

pytestmark = pytest.mark.slow


def _generator() -> str:
    found = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("openapi-python-client is missing: it is in the dev extra (make dev-venv)")
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated package `advisor_client` in a temp dir, importable."""
    root = tmp_path_factory.mktemp("generated")
    spec = create_app(Settings(sync_catalog_on_start=False)).openapi()
    (root / "openapi.json").write_text(json.dumps(spec))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [_generator(), "generate", "--path", "openapi.json", "--meta", "none",
         "--output-path", "advisor_client"],
        cwd=root, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    sys.path.insert(0, str(root))
    try:
        yield root / "advisor_client"
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith("advisor_client")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("client")) as base:
        yield base


def test_generated_names_are_the_operation_ids_and_schema_names(generated: Path) -> None:
    operations = {p.stem for p in generated.glob("api/*/*.py") if p.stem != "__init__"}
    assert {"list_gpus", "get_gpu", "list_models", "estimate", "recommend",
            "get_recommendation", "create_probe_run", "get_probe_run",
            "submit_probe_results"} <= operations  # fmt: skip
    models = {p.stem for p in generated.glob("models/*.py")}
    assert {"preset_model", "transformer_model", "hf_config_model", "parameter_count_model",
            "sort_order", "estimate_request", "recommend_response"} <= models  # fmt: skip
    assert not [m for m in models if "api_v1" in m or "model_input" in m or "type_0" in m], models
    client_code = (generated / "api" / "probes" / "submit_probe_results.py").read_text()
    assert "body: ProbeSubmission" in client_code


def test_estimate_and_recommend_through_the_generated_client(generated: Path, server: str) -> None:
    client_module: Any = importlib.import_module("advisor_client")
    estimate: Any = importlib.import_module("advisor_client.api.estimate.estimate")
    recommend: Any = importlib.import_module("advisor_client.api.recommend.recommend")
    models: Any = importlib.import_module("advisor_client.models")
    with client_module.Client(base_url=server, raise_on_unexpected_status=True) as client:
        _estimate_and_recommend(client, estimate, recommend, models)


def _estimate_and_recommend(client: Any, estimate: Any, recommend: Any, models: Any) -> None:
    body = models.EstimateRequest.from_dict(
        {"model": {"preset": "llama-2-7b"},
         "workload": {"task": "pretrain", "precision": "bf16", "seq_len": 4096, "micro_batch": 1,
                      "global_batch": 1024, "tokens": 2e12, "activation_checkpointing": "full",
                      "parallelism": {"zero_stage": 1}},
         "hardware": {"gpu": "nvidia-h100-sxm", "count": 8}}
    )  # fmt: skip
    assert isinstance(body.model, models.PresetModel)
    answer = estimate.sync(client=client, body=body)
    assert isinstance(answer, models.Estimate), answer
    assert answer.memory.fits
    assert answer.model.parameters == pytest.approx(6.74e9, rel=0.01)
    assert answer.time.total_seconds > 0

    bad = estimate.sync_detailed(
        client=client,
        body=models.EstimateRequest.from_dict(
            {"model": {"parameters": 7e9}, "hardware": {"gpu": "no-such-gpu"}}
        ),
    )
    assert bad.status_code == 404
    assert isinstance(bad.parsed, models.ErrorBody)

    ranked = recommend.sync(
        client=client,
        body=models.RecommendRequest.from_dict(
            {"model": {"transformer": {"layers": 24, "hidden_size": 2048, "heads": 16}},
             "workload": {"task": "qlora", "tokens": 1e8},
             "constraints": {"max_gpus": 8, "max_budget_usd": 50}, "objective": "cheapest"}
        ),
    )  # fmt: skip
    assert isinstance(ranked, models.RecommendResponse), ranked
    assert ranked.options[0].rank == 1
    assert ranked.options[0].verdict.value in ("fits", "fits with changes")
    assert isinstance(ranked.id, str)
