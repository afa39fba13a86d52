"""The gpu-advisor console script."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from tests.factories import gpu_record, write_catalog

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("ADVISOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_catalog_validate_reports_the_counts(env: Path) -> None:
    result = runner.invoke(cli, ["catalog", "validate"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_catalog_validate_fails_naming_the_field(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = write_catalog(env, [gpu_record(tdp_w=0)])
    monkeypatch.setenv("ADVISOR_CATALOG_DIR", str(bad))
    get_settings.cache_clear()
    result = runner.invoke(cli, ["catalog", "validate"])
    assert result.exit_code == 1
    assert "field 'tdp_w'" in result.output


def test_upgrade_sync_and_list_gpus_as_a_table(env: Path) -> None:
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(cli, ["catalog", "sync"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, ["catalog", "sync"])
    assert "0 added, 0 updated, 0 removed" in second.output
    table = runner.invoke(cli, ["gpus", "--vendor", "nvidia", "--sort", "memory_gb", "--desc"])
    assert table.exit_code == 0, table.output
    assert "GPUs (dense peak figures)" in table.output


def test_gpus_with_a_bad_vendor_fails_cleanly(env: Path) -> None:
    result = runner.invoke(cli, ["gpus", "--vendor", "nvida"])
    assert result.exit_code == 1
    assert "nvida" in result.output


def test_estimate_prints_fit_time_and_cost(env: Path) -> None:
    result = runner.invoke(
        cli,
        [
            "estimate",
            "--gpu",
            "nvidia-geforce-rtx-4090",
            "--preset",
            "llama-2-7b",
            "--task",
            "qlora",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "fits" in result.output
    assert "error band" in result.output


def test_estimate_with_a_bad_gpu_fails_cleanly(env: Path) -> None:
    result = runner.invoke(cli, ["estimate", "--gpu", "nvidia-h900", "--preset", "llama-2-7b"])
    assert result.exit_code == 1
    assert "no GPU with id 'nvidia-h900'" in result.output


def test_recommend_prints_the_ranking(env: Path) -> None:
    result = runner.invoke(
        cli,
        [
            "recommend",
            "--preset",
            "llama-2-7b",
            "--task",
            "qlora",
            "--segment",
            "consumer",
            "--acquisition",
            "buy",
            "--top",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best of" in result.output
    assert "nvidia-" in result.output or "amd-" in result.output


def test_validate_prints_the_table_and_medians(env: Path) -> None:
    result = runner.invoke(cli, ["validate"])
    assert result.exit_code == 0, result.output
    assert "median |error|" in result.output
    assert "serving family" in result.output
    assert "leave-one-source-out" in result.output


def test_token_create_persists_and_revoke_works(env: Path) -> None:
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    created = runner.invoke(cli, ["token", "create", "ci-host"])
    assert created.exit_code == 0, created.output
    listed = runner.invoke(cli, ["token", "list"], env={"COLUMNS": "200"})
    assert "ci-host" in listed.output
    assert runner.invoke(cli, ["token", "create", "ci-host"]).exit_code == 1  # names are unique
    assert runner.invoke(cli, ["token", "revoke", "ci-host"]).exit_code == 0
    assert runner.invoke(cli, ["token", "revoke", "ci-host"]).exit_code == 1
