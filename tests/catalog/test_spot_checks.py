"""The catalog matches the datasheet figures of 16 well-known GPUs (tests/data/spot_checks.yaml).

A printed "with sparsity" figure must appear halved; the table in catalog/README.md lists the
same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from app.services.catalog import LoadedCatalog

CHECKS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "spot_checks.yaml").read_text()
)["checks"]
TOLERANCE = 0.005  # datasheets round: 989.4 vs 1,979 / 2


@pytest.mark.parametrize("check", CHECKS, ids=[c["gpu"] for c in CHECKS])
def test_catalog_matches_the_datasheet(catalog: LoadedCatalog, check: dict[str, Any]) -> None:
    gpu = catalog.gpu(check["gpu"])
    assert gpu is not None, f"{check['gpu']} missing from the catalog"
    precision = "bf16" if "bf16_printed" in check else "fp16"
    printed = check[f"{precision}_printed"]
    dense = printed / 2 if check["sparse"] else printed
    assert getattr(gpu.peak_tflops, precision) == pytest.approx(dense, rel=TOLERANCE)
    assert gpu.memory_gb == check["memory_gb"]
    assert gpu.memory_bandwidth_gb_s == pytest.approx(check["bandwidth_gb_s"], rel=TOLERANCE)
    if check["tdp_w"] is not None:
        assert gpu.tdp_w == check["tdp_w"]


def test_readme_spot_check_table_lists_every_row() -> None:
    readme = (Path(__file__).parents[2] / "catalog" / "README.md").read_text()
    for check in CHECKS:
        assert f"`{check['gpu']}`" in readme, f"{check['gpu']} missing from the README table"
