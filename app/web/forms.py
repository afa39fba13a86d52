"""The recommendation form: flat HTML fields <-> RecommendRequest, with per-field errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.schemas.recommend import RecommendRequest

MODEL_SOURCES = ("preset", "dimensions", "config", "parameters")
DIMENSION_FIELDS = ("layers", "hidden_size", "heads", "kv_heads", "ffn_hidden_size", "vocab_size", "experts",
                    "experts_per_token")  # fmt: skip
NUMBER_FIELDS = (
    "seq_len",
    "micro_batch",
    "global_batch",
    "tokens",
    "max_gpus",
    "max_budget_usd",
    "max_hours",
)

# Where a validation error's location shows up on the form.
_LOCATION_TO_FIELD: dict[tuple[str, ...], str] = {
    ("model", "preset"): "preset",
    ("model", "parameters"): "parameters",
    ("model", "hf_config"): "hf_config",
    ("constraints", "max_gpus"): "max_gpus",
    ("constraints", "max_budget_usd"): "max_budget_usd",
    ("constraints", "max_hours"): "max_hours",
}

DEFAULTS: dict[str, Any] = {
    "model_source": "preset",
    "preset": "llama-3.1-8b",
    "task": "finetune",
    "precision": "bf16",
    "seq_len": "2048",
    "micro_batch": "1",
    "global_batch": "",
    "tokens": "1e9",
    "optimizer": "adamw",
    "activation_checkpointing": "none",
    "max_gpus": "8",
    "objective": "balanced",
    "acquisition": "rent",
    "allow_checkpointing": True,
    "allow_zero": True,
    "allow_8bit": True,
    "vendors": [],
    "segments": [],
    "serve_prompt_tokens": "512",
    "serve_output_tokens": "256",
    "serve_concurrency": "50",
    "serve_request_rate": "",
    "serve_ttft_p90_s": "1",
    "serve_tpot_p99_s": "0.1",
    "serve_weight_precision": "bf16",
    "serve_engine": "vllm",
}
# Serving fields (task "serve") and whether each is a whole number.
SERVING_FIELDS = {
    "prompt_tokens": True,
    "output_tokens": True,
    "concurrency": True,
    "request_rate": False,
    "ttft_p90_s": False,
    "tpot_p99_s": False,
}


def _number(text: str, field: str, errors: dict[str, str], *, integer: bool) -> float | int | None:
    text = text.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[field] = f"{field}: '{text}' is not a number (write 2048, 1e9 or 2.5e12)"
        return None
    if integer:
        if value != int(value):
            errors[field] = f"{field}: must be a whole number"
            return None
        return int(value)
    return value


def form_values(form: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted values, for re-rendering the form as the user left it."""
    values = dict(DEFAULTS)
    for key, value in form.items():
        values[key] = value
    for flag in ("allow_checkpointing", "allow_zero", "allow_8bit", "cloud_priced_only", "gated_ffn",
                 "tied_embeddings"):  # fmt: skip
        values[flag] = flag in form
    return values


def parse_form(
    form: Mapping[str, Any], vendors: list[str], segments: list[str]
) -> tuple[RecommendRequest | None, dict[str, str]]:
    """A request from the form, or the errors to show beside each field."""
    errors: dict[str, str] = {}
    source = str(form.get("model_source", "preset"))
    model: dict[str, Any] = {}
    if source == "preset":
        model["preset"] = str(form.get("preset", ""))
    elif source == "dimensions":
        dims: dict[str, Any] = {}
        for field in DIMENSION_FIELDS:
            value = _number(str(form.get(field, "")), field, errors, integer=True)
            if value is not None:
                dims[field] = value
        dims["gated_ffn"] = "gated_ffn" in form
        dims["tied_embeddings"] = "tied_embeddings" in form
        model["transformer"] = dims
    elif source == "config":
        text = str(form.get("hf_config", "")).strip()
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError as exc:
            errors["hf_config"] = f"config.json is not valid JSON: {exc.msg} (line {exc.lineno})"
            parsed = None
        if parsed is not None and not isinstance(parsed, dict):
            errors["hf_config"] = "config.json must be a JSON object"
        elif parsed is not None:
            model["hf_config"] = parsed
        elif "hf_config" not in errors:
            errors["hf_config"] = "paste a Hugging Face config.json"
    else:
        model["parameters"] = _number(
            str(form.get("parameters", "")), "parameters", errors, integer=False
        )

    numbers = {
        field: _number(
            str(form.get(field, "")),
            field,
            errors,
            integer=field not in ("tokens", "max_budget_usd", "max_hours"),
        )
        for field in NUMBER_FIELDS
    }
    workload: dict[str, Any] = {
        "task": form.get("task"),
        "precision": form.get("precision"),
        "optimizer": form.get("optimizer"),
        "activation_checkpointing": form.get("activation_checkpointing"),
    }
    for field in ("seq_len", "micro_batch", "global_batch", "tokens"):
        if numbers[field] is not None:
            workload[field] = numbers[field]
    if workload["task"] == "serve":
        serving: dict[str, Any] = {
            "weight_precision": form.get("serve_weight_precision") or "bf16",
            "engine": form.get("serve_engine") or "vllm",
        }
        for field, integer in SERVING_FIELDS.items():
            value = _number(
                str(form.get(f"serve_{field}", "")), f"serve_{field}", errors, integer=integer
            )
            if value is not None:
                serving[field] = value
        workload["serving"] = serving
    constraints: dict[str, Any] = {
        "vendors": vendors,
        "segments": segments,
        "cloud_priced_only": "cloud_priced_only" in form,
        "allow": {
            "activation_checkpointing": "allow_checkpointing" in form,
            "zero": "allow_zero" in form,
            "optimizer_8bit": "allow_8bit" in form,
        },
    }
    for field in ("max_gpus", "max_budget_usd", "max_hours"):
        if numbers[field] is not None:
            constraints[field] = numbers[field]
    for field in ("framework", "min_precision"):
        if form.get(field):
            constraints[field] = form.get(field)
    if errors:
        return None, errors
    try:
        request = RecommendRequest.model_validate(
            {
                "model": model,
                "workload": workload,
                "constraints": constraints,
                "objective": form.get("objective"),
                "acquisition": form.get("acquisition") or "rent",
            }
        )
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(str(p) for p in error["loc"])
            field = _field_for(loc, source)
            errors.setdefault(field, f"{field}: {error['msg']}")
        return None, errors
    return request, {}


def _field_for(loc: tuple[str, ...], source: str) -> str:
    if loc[:2] in _LOCATION_TO_FIELD:
        return _LOCATION_TO_FIELD[loc[:2]]
    if loc[:2] == ("model", "transformer"):
        return loc[2] if len(loc) > 2 and loc[2] in DIMENSION_FIELDS else "layers"
    if loc[:2] == ("workload", "serving") and len(loc) > 2:
        return f"serve_{loc[2]}"
    if loc[0] == "workload" and len(loc) > 1:
        return loc[1]
    if loc[0] == "constraints" and len(loc) > 1:
        return loc[1]
    if loc[0] == "model":
        return {"preset": "preset", "dimensions": "layers", "config": "hf_config"}.get(
            source, "parameters"
        )
    return loc[0]


def error_field(message: str, source: str) -> str:
    """Which form field a service error (e.g. 'unknown preset', 'hf_config ...') belongs to."""
    lowered = message.lower()
    if "preset" in lowered:
        return "preset"
    if "hf_config" in lowered or "config" in lowered:
        return "hf_config"
    if "tensor" in lowered or "pipeline" in lowered or "global_batch" in lowered:
        return "global_batch" if "global_batch" in lowered else "max_gpus"
    return {"preset": "preset", "dimensions": "layers", "config": "hf_config"}.get(
        source, "parameters"
    )
