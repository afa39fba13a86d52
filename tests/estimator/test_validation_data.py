"""Schema of the validation rows in tests/data/validation/*.yaml (one file per source).

The rows follow the schema of tests/data/validation.yaml (INTERFACES.md B): every row names its
source and the exact table/row, runs on a GPU the catalog knows, and says what it measured in
which unit. These tests check the data, not the estimator.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.config import PROJECT_ROOT

OLD_FILE = PROJECT_ROOT / "tests" / "data" / "validation.yaml"
SOURCE_DIR = PROJECT_ROOT / "tests" / "data" / "validation"
KINDS = {
    "training_throughput",
    "training_memory",
    "fit",
    "full_run",
    "inference_throughput",
    "inference_latency",
    "serving",
}
MEMORY_UNITS = {"GB", "GiB", "MiB"}
MEMORY_KINDS = {"allocated", "reserved", "device"}
THROUGHPUT_METRICS = (
    "tokens_per_second",
    "per_gpu_tokens_per_second",
    "mfu",
    "per_gpu_tflops",
    "step_seconds",
    "samples_per_second",
)
TRANSFORMER_KEYS = {"layers", "hidden_size", "heads", "kv_heads", "ffn_hidden_size", "vocab_size"}


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = yaml.safe_load(path.read_text())["measurements"]
    assert isinstance(rows, list), path.name
    return rows


def _source_files() -> list[Path]:
    return sorted(SOURCE_DIR.glob("*.yaml"))


def _new_rows() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, row) for path in _source_files() for row in _rows(path)]


@cache
def _catalog_gpu_ids() -> set[str]:
    ids: set[str] = set()
    for path in (PROJECT_ROOT / "catalog" / "gpus").glob("*.yaml"):
        ids.update(gpu["id"] for gpu in yaml.safe_load(path.read_text())["gpus"])
    return ids


@cache
def _catalog_model_ids() -> set[str]:
    models = yaml.safe_load((PROJECT_ROOT / "catalog" / "models.yaml").read_text())["models"]
    return {m["id"] for m in models}


NEW_ROWS = _new_rows()
ROW_IDS = [f"{name}:{row.get('id')}" for name, row in NEW_ROWS]


def test_there_is_at_least_one_source_file() -> None:
    assert _source_files(), SOURCE_DIR


def test_row_ids_are_unique_across_the_old_file_and_every_source_file() -> None:
    ids = [row["id"] for row in _rows(OLD_FILE)] + [row["id"] for _, row in NEW_ROWS]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates


def test_each_source_file_holds_one_source() -> None:
    """One file per source: every row of a file shares its source group (or its URL)."""
    for path in _source_files():
        groups = {
            row.get("source_group") or row["source"]["url"].split("#")[0] for row in _rows(path)
        }
        assert len(groups) == 1, (path.name, groups)


@pytest.mark.parametrize(("name", "row"), NEW_ROWS, ids=ROW_IDS)
def test_every_row_names_its_source_and_where_in_it(name: str, row: dict[str, Any]) -> None:
    source = row["source"]
    for key in ("title", "url", "where", "retrieved"):
        assert source.get(key), (name, row["id"], key)
    assert str(source["url"]).startswith("https://"), row["id"]


@pytest.mark.parametrize(("name", "row"), NEW_ROWS, ids=ROW_IDS)
def test_every_row_has_a_known_kind_gpu_and_model(name: str, row: dict[str, Any]) -> None:
    assert row["kind"] in KINDS, row["id"]
    hardware = row["hardware"]
    assert hardware["gpu"] in _catalog_gpu_ids(), row["id"]
    assert isinstance(hardware["count"], int), row["id"]
    assert hardware["count"] >= 1, row["id"]
    model = row["model"]
    if "preset" in model:
        assert model["preset"] in _catalog_model_ids(), row["id"]
    else:
        assert set(model["transformer"]) >= TRANSFORMER_KEYS, row["id"]
    if "exclude" in row:
        assert isinstance(row["exclude"], str), row["id"]
        assert row["exclude"].strip(), row["id"]


@pytest.mark.parametrize(("name", "row"), NEW_ROWS, ids=ROW_IDS)
def test_measured_figures_match_the_kind(name: str, row: dict[str, Any]) -> None:
    measured = row["measured"]
    kind = row["kind"]
    if kind == "training_throughput":
        assert any((measured.get(key) or 0) > 0 for key in THROUGHPUT_METRICS), row["id"]
    elif kind == "training_memory":
        assert (measured.get("peak_memory_gb") or 0) > 0, row["id"]
    elif kind == "fit":
        assert isinstance(measured.get("fits"), bool), row["id"]
    elif kind == "full_run":
        hours = measured.get("gpu_hours") or measured.get("wall_clock_hours") or 0
        assert hours > 0, row["id"]
        assert (row["workload"].get("tokens") or 0) > 0, row["id"]
    elif kind == "inference_throughput":
        assert row["workload"].get("inference"), row["id"]
        rate = measured.get("tokens_per_second") or measured.get("per_gpu_tokens_per_second")
        assert (rate or 0) > 0, row["id"]


@pytest.mark.parametrize(("name", "row"), NEW_ROWS, ids=ROW_IDS)
def test_memory_figures_state_their_unit_and_what_they_count(
    name: str, row: dict[str, Any]
) -> None:
    if not row["measured"].get("peak_memory_gb"):
        return
    assert row.get("peak_memory_unit") in MEMORY_UNITS, row["id"]
    assert row.get("peak_memory_kind") in MEMORY_KINDS, row["id"]


def _group(row: dict[str, Any]) -> str:
    """Leave-one-source-out group: `source_group`, else the source URL without its fragment."""
    return str(row.get("source_group") or row["source"]["url"].split("#")[0])


def test_the_whole_set_has_at_least_120_rows_from_20_sources() -> None:
    rows = _rows(OLD_FILE) + [row for _, row in NEW_ROWS]
    assert len(rows) >= 120
    assert len({_group(row) for row in rows}) >= 20


@pytest.mark.parametrize(("name", "row"), NEW_ROWS, ids=ROW_IDS)
def test_figures_are_numbers_not_strings(name: str, row: dict[str, Any]) -> None:
    """PyYAML reads `2.0e12` (no sign in the exponent) as a string; write `2.0e+12`."""
    for key, value in row["measured"].items():
        assert isinstance(value, (int, float)), (row["id"], key, value)
    for key in ("tokens", "seq_len", "micro_batch", "global_batch"):
        value = row["workload"].get(key)
        assert value is None or isinstance(value, (int, float)), (row["id"], key, value)
    if "inferred" in row:
        assert isinstance(row["inferred"], str), row["id"]
