"""The OpenAPI document, completed where FastAPI cannot see: the probe submission body (read by
hand, streamed and size-capped) and its schemas are added to the components, and the preset ids
of the loaded catalog become the `enum` of `model.preset` and its GPU ids that of `owned[].gpu`
(so a schema-valid request names a preset and owned GPUs that exist)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.schemas.probes import ProbeSubmission

REF_TEMPLATE = "#/components/schemas/{model}"

# Inline choices a generator would name `<Schema><Field>Type0`: each becomes a named component
# (the document means the same; only the name a generated client uses changes).
HOISTED: dict[tuple[str, str], str] = {
    ("Constraints", "min_precision"): "HardwarePrecision",
    ("InferenceConfig", "weight_precision"): "WeightPrecision",
    ("InferenceConfig", "kv_cache_precision"): "KvCachePrecision",
    ("ProbeRunCreate", "only"): "ProbeName",
    ("ProbeRunRead", "device"): "DeviceInfo",
    ("Workload", "attention"): "AttentionImplementation",
    ("Workload", "runtime"): "Runtime",
    ("Workload", "reduce_dtype"): "ReduceDtype",
}


def _hoist(schemas: dict[str, Any]) -> None:
    """Move the inline schema of each HOISTED field into `components.schemas` under its name."""
    for (owner, field), name in HOISTED.items():
        prop = schemas.get(owner, {}).get("properties", {}).get(field)
        if prop is None:
            continue
        for choice in prop.get("anyOf", []):
            target = choice.get("items", choice) if choice.get("type") == "array" else choice
            if "$ref" in target or target.get("type") == "null":
                continue
            schemas[name] = {**target, "title": name}
            target.clear()
            target["$ref"] = f"#/components/schemas/{name}"
            break


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once, then cached on the app like FastAPI's own)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    submission = ProbeSubmission.model_json_schema(ref_template=REF_TEMPLATE, mode="validation")
    for name, schema in submission.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas.setdefault("ProbeSubmission", submission)
    _hoist(schemas)
    catalog = getattr(app.state, "catalog", None)
    if catalog is None:  # before start-up: serve it, but build again once the catalog is loaded
        return spec
    preset = schemas["PresetModel"]["properties"]["preset"]
    preset["enum"] = [m.id for m in catalog.models]
    owned_gpu = schemas["OwnedGpu"]["properties"]["gpu"]
    owned_gpu["enum"] = [g.id for g in catalog.gpus]
    app.openapi_schema = spec
    return spec


def install(app: FastAPI) -> None:
    """Serve `build_openapi` at /openapi.json."""
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
