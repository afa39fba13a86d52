"""The recommendation form: flat HTML fields <-> RecommendRequest, with per-field errors."""

from __future__ import annotations

import json
import re
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

# What each field is called on the page: errors use these words, never the API's field names.
LABELS: dict[str, str] = {
    "preset": "Preset", "layers": "Layers", "hidden_size": "Hidden size", "heads": "Attention heads",
    "kv_heads": "KV heads", "ffn_hidden_size": "FFN size", "vocab_size": "Vocabulary",
    "experts": "Experts", "experts_per_token": "Experts per token", "hf_config": "config.json",
    "parameters": "Parameters", "task": "Task", "precision": "Precision",
    "seq_len": "Sequence length", "micro_batch": "Micro-batch per GPU",
    "global_batch": "Global batch", "tokens": "Training tokens", "optimizer": "Optimizer",
    "activation_checkpointing": "Activation checkpointing", "max_gpus": "Max GPUs",
    "max_budget_usd": "Max budget (USD)", "max_hours": "Max wall-clock hours",
    "framework": "Framework", "min_precision": "Needs hardware", "objective": "Objective",
    "vendors": "Vendors", "segments": "Segments",
}  # fmt: skip

# The order fields appear on the page: the first error gets the focus.
FIELD_ORDER = ("model_source", "preset", *DIMENSION_FIELDS, "hf_config", "parameters", "task",
               "precision", "seq_len", "micro_batch", "global_batch", "tokens", "optimizer",
               "activation_checkpointing", "max_gpus", "max_budget_usd", "max_hours", "framework",
               "min_precision", "objective", "vendors", "segments")  # fmt: skip

_MODEL_FIELD = {"preset": "preset", "dimensions": "layers", "config": "hf_config"}

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
        errors[field] = f"'{text}' is not a number: write it like 2048, 1e9 or 2.5e12"
        return None
    if integer:
        if value != int(value):
            errors[field] = "must be a whole number"
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


# Ranked options a results page lists (the first 15 shown, the rest behind "show all").
WEB_MAX_OPTIONS = 40


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
    try:
        request = RecommendRequest.model_validate(
            {
                "model": model,
                "workload": workload,
                "constraints": constraints,
                "objective": form.get("objective"),
                "acquisition": form.get("acquisition") or "rent",
                # The page shows the best 15 with "show all", filters and a compare view: rank
                # enough options for those to mean something (the API's default is 10).
                "max_options": WEB_MAX_OPTIONS,
            }
        )
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(str(p) for p in error["loc"])
            errors.setdefault(_field_for(loc, source), plain_message(error))
        return None, ordered(errors)
    if errors:  # a field that did not parse was left out of an otherwise valid request
        return None, ordered(errors)
    return request, {}


def ordered(errors: dict[str, str]) -> dict[str, str]:
    """Errors in page order, so the summary and the focus start at the first field."""
    rank = {name: i for i, name in enumerate(FIELD_ORDER)}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(rank))))


def plain_message(error: Mapping[str, Any]) -> str:
    """A pydantic error in the words a person reads: 'must be at least 1', not 'Input should be
    greater than or equal to 1'."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    bounds = {
        "greater_than_equal": ("must be at least", "ge"),
        "greater_than": ("must be more than", "gt"),
        "less_than_equal": ("must be at most", "le"),
        "less_than": ("must be less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {_number_text(ctx.get(key))}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return "must be a number"
    if kind in ("enum", "literal_error"):
        return f"must be one of {ctx.get('expected', 'the listed choices')}"
    if kind == "missing":
        return "is required"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    message = str(error.get("msg", ""))
    return message.removeprefix("Value error, ")


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def service_errors(fields: tuple[str, ...], message: str, source: str) -> dict[str, str]:
    """A service error (carrying the request fields it is about) as form errors: the message
    beside every field it names, the API's field names replaced by the page's labels."""
    targets = [_field_for(tuple(f.split(".")), source) for f in fields] or [
        _MODEL_FIELD.get(source, "parameters")
    ]
    # Only API identifiers (with an underscore) are renamed: "heads" or "task" are plain words.
    text = re.sub(
        r"\b[a-z]+(?:_[a-z0-9]+)+\b", lambda m: LABELS.get(m.group(0), m.group(0)), message
    )
    return ordered(dict.fromkeys(targets, text))


def values_from_request(request: RecommendRequest) -> dict[str, Any]:
    """The form's values for a saved request, so 'edit these inputs' refills every field."""
    values = dict(DEFAULTS)
    model = request.model
    if model.preset is not None:
        values.update(model_source="preset", preset=model.preset)
    elif model.transformer is not None:
        dims = model.transformer
        values["model_source"] = "dimensions"
        for name in DIMENSION_FIELDS:
            value = getattr(dims, name)
            values[name] = "" if value is None else str(value)
        values["gated_ffn"] = dims.gated_ffn
        values["tied_embeddings"] = dims.tied_embeddings
    elif model.hf_config is not None:
        values.update(model_source="config", hf_config=json.dumps(model.hf_config, indent=2))
    else:
        values.update(model_source="parameters", parameters=f"{model.parameters:g}")
    w = request.workload
    values.update(
        task=w.task.value,
        precision=w.precision.value,
        seq_len=str(w.seq_len),
        micro_batch=str(w.micro_batch),
        global_batch="" if w.global_batch is None else str(w.global_batch),
        tokens="" if w.tokens is None else f"{w.tokens:g}",
        optimizer=w.optimizer.value,
        activation_checkpointing=w.activation_checkpointing.value,
    )
    c = request.constraints
    values.update(
        max_gpus=str(c.max_gpus),
        max_budget_usd="" if c.max_budget_usd is None else f"{c.max_budget_usd:g}",
        max_hours="" if c.max_hours is None else f"{c.max_hours:g}",
        framework=c.framework.value if c.framework else "",
        min_precision=c.min_precision or "",
        objective=request.objective.value,
        vendors=[v.value for v in c.vendors],
        segments=[s.value for s in c.segments],
        cloud_priced_only=c.cloud_priced_only,
        allow_checkpointing=c.allow.activation_checkpointing,
        allow_zero=c.allow.zero,
        allow_8bit=c.allow.optimizer_8bit,
    )
    return values


def _field_for(loc: tuple[str, ...], source: str) -> str:
    """The form field a request location belongs to (the first field of its group if none)."""
    if len(loc) > 2 and loc[0] == "model" and loc[1] == loc[2]:
        loc = (
            loc[:1] + loc[2:]
        )  # the model union's tag: ("model", "transformer", "transformer", ...)
    if loc[:2] in _LOCATION_TO_FIELD:
        return _LOCATION_TO_FIELD[loc[:2]]
    if loc[:2] == ("model", "transformer"):
        return loc[2] if len(loc) > 2 and loc[2] in DIMENSION_FIELDS else "layers"
    if loc[:2] == ("workload", "serving") and len(loc) > 2:
        return f"serve_{loc[2]}"
    if loc[0] == "workload" and len(loc) > 1 and loc[1] in LABELS:
        return loc[1]
    if loc[0] == "workload":  # a rule across workload fields (parallelism, samples/epochs)
        return "max_gpus" if len(loc) > 1 and loc[1] == "parallelism" else "global_batch"
    if loc[0] == "constraints" and len(loc) > 1 and loc[1] in LABELS:
        return loc[1]
    if loc[0] == "model":
        return _MODEL_FIELD.get(source, "parameters")
    return loc[0] if loc[0] in LABELS else "max_gpus"
