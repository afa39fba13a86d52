"""The OpenAPI document is one a client generator turns into a clean client."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.services.catalog import LoadedCatalog

OPERATIONS = {
    ("get", "/api/v1/gpus"): "list_gpus",
    ("get", "/api/v1/gpus/{gpu_id}"): "get_gpu",
    ("get", "/api/v1/models"): "list_models",
    ("post", "/api/v1/estimate"): "estimate",
    ("post", "/api/v1/recommend"): "recommend",
    ("get", "/api/v1/recommendations/{recommendation_id}"): "get_recommendation",
    ("post", "/api/v1/probe-runs"): "create_probe_run",
    ("get", "/api/v1/probe-runs/{run_id}"): "get_probe_run",
    ("post", "/api/v1/probe-results"): "submit_probe_results",
}


def _spec(client: TestClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    return spec


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_every_operation_has_its_explicit_id(client: TestClient) -> None:
    paths = _spec(client)["paths"]
    for (method, path), operation_id in OPERATIONS.items():
        assert paths[path][method]["operationId"] == operation_id


def test_the_model_input_is_one_of_four_named_schemas(client: TestClient) -> None:
    schemas = _spec(client)["components"]["schemas"]
    assert [r["$ref"].rsplit("/", 1)[-1] for r in schemas["ModelInput"]["oneOf"]] == [
        "PresetModel", "TransformerModel", "HfConfigModel", "ParameterCountModel"
    ]  # fmt: skip
    assert not [name for name in schemas if "Type0" in name or "ApiV1" in name]


def test_presets_are_the_loaded_catalogs(client: TestClient, catalog: LoadedCatalog) -> None:
    preset = _spec(client)["components"]["schemas"]["PresetModel"]["properties"]["preset"]
    assert preset["enum"] == [m.id for m in catalog.models]


def test_every_response_field_has_a_description(client: TestClient) -> None:
    spec = _spec(client)
    schemas = spec["components"]["schemas"]
    todo = _refs([op["responses"] for ops in spec["paths"].values() for op in ops.values()])
    seen: set[str] = set()
    missing = []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        schema = schemas[name]
        for field, prop in schema.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{name}.{field}")
        todo |= _refs(schema) - seen
    assert missing == []
    assert len(seen) > 20


def test_writes_use_the_bearer_scheme_and_the_probe_body_is_declared(client: TestClient) -> None:
    spec = _spec(client)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }  # fmt: skip
    for path in ("/api/v1/probe-runs", "/api/v1/probe-results"):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"bearer": []}]
        assert not [p for p in operation.get("parameters", []) if p["name"] == "authorization"]
    body = spec["paths"]["/api/v1/probe-results"]["post"]["requestBody"]
    schema_ref = body["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref == "#/components/schemas/ProbeSubmission"
    assert "ProbeSubmission" in spec["components"]["schemas"]


def test_only_the_errors_a_route_can_give(client: TestClient) -> None:
    paths = _spec(client)["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            codes = set(operation["responses"])
            if method == "get":
                assert "413" not in codes, f"GET {path} lists 413"
            if "429" in codes:
                assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "429" not in paths["/api/v1/gpus"]["get"]["responses"]
    assert "401" in paths["/api/v1/probe-runs"]["post"]["responses"]


def test_estimate_and_recommend_carry_the_readmes_examples(client: TestClient) -> None:
    paths = _spec(client)["paths"]
    for path in ("/api/v1/estimate", "/api/v1/recommend"):
        examples = paths[path]["post"]["requestBody"]["content"]["application/json"]["examples"]
        assert examples
        for example in examples.values():
            response = client.post(path, json=example["value"])
            assert response.status_code == 200, (path, example["summary"], response.text[:300])
