"""The SkyPilot offers importer: cheapest US region, idempotent output, rejected and skipped rows.

Fixture: tests/data/skypilot/<cloud>/vms.csv, a few rows in SkyPilot's column layout (AWS with
Price/SpotPrice/Region/AvailabilityZone; Lambda with a different column order and no US region).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.errors import CatalogError
from app.services.catalog import load_catalog
from app.services.offers_import import import_skypilot_offers, map_accelerator

FIXTURE = Path(__file__).parents[1] / "data" / "skypilot"
REAL_CATALOG = Path(__file__).parents[2] / "catalog"
OBSERVED = dt.date(2026, 11, 20)  # later than the hand-entered AWS rows (2026-11-09)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """The fixture CSVs copied outside this repository (so they are not a git checkout)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "skypilot-catalog"))


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A copy of the real catalog, so imported offers are validated against real GPU ids."""
    return Path(shutil.copytree(REAL_CATALOG, tmp_path / "catalog"))


def _offers(catalog_dir: Path, provider: str) -> list[dict[str, object]]:
    data = yaml.safe_load((catalog_dir / "offers" / f"{provider}.yaml").read_text())
    return list(data["offers"])


def _imported(catalog_dir: Path, provider: str) -> dict[str, dict[str, object]]:
    rows = _offers(catalog_dir, provider)
    return {
        str(r["instance"]): r
        for r in rows
        if str(r["source"]["url"]).startswith("https://github.com/skypilot-org")  # type: ignore[index]
    }


def test_import_takes_the_cheapest_us_region_for_on_demand_and_spot(
    source: Path, catalog_dir: Path
) -> None:
    report = import_skypilot_offers(
        source, catalog_dir, clouds=["aws"], commit=COMMIT, observed=OBSERVED
    )
    offers = _imported(catalog_dir, "aws")
    p5 = offers["p5.48xlarge"]
    # eu-west-9 is cheaper (49.00) but not a US region; us-east-1 and us-east-2 tie at 55.04.
    assert p5["usd_per_instance_hour"] == 55.04
    assert p5["regions"] == ["us-east-1", "us-east-2"]
    assert p5["spot_usd_per_instance_hour"] == 18.5
    assert p5["gpu"] == "nvidia-h100-sxm"
    assert p5["gpus_per_instance"] == 8
    assert p5["multi_node"] is True
    assert p5["network_gbps_per_gpu"] == 400.0
    assert p5["observed"] == OBSERVED
    assert p5["source"]["commit"] == COMMIT  # type: ignore[index]
    g5 = offers["g5.xlarge"]
    assert (g5["usd_per_instance_hour"], g5["spot_usd_per_instance_hour"]) == (1.006, 0.38)
    assert g5["multi_node"] is False
    assert report.written == {"aws": 2}


def test_a_cloud_without_us_regions_uses_all_regions(source: Path, catalog_dir: Path) -> None:
    import_skypilot_offers(source, catalog_dir, clouds=["lambda"], commit=COMMIT, observed=OBSERVED)
    a10 = _imported(catalog_dir, "lambda")["gpu_1x_a10"]
    assert a10["regions"] == ["asia-south-1", "europe-central-1"]
    assert a10["spot_usd_per_instance_hour"] is None


def test_import_is_idempotent_and_keeps_hand_entered_rows(source: Path, catalog_dir: Path) -> None:
    hand_entered = _offers(catalog_dir, "aws")
    import_skypilot_offers(source, catalog_dir, commit=COMMIT, observed=OBSERVED)
    first = {p.name: p.read_bytes() for p in (catalog_dir / "offers").glob("*.yaml")}
    import_skypilot_offers(source, catalog_dir, commit=COMMIT, observed=OBSERVED)
    second = {p.name: p.read_bytes() for p in (catalog_dir / "offers").glob("*.yaml")}
    assert first == second
    instances = {str(o["instance"]) for o in _offers(catalog_dir, "aws")}
    assert {str(o["instance"]) for o in hand_entered} <= instances
    # The written files are a valid catalog.
    loaded = load_catalog(catalog_dir)
    assert any(o.instance == "p5.48xlarge" and o.source.commit == COMMIT for o in loaded.offers)


def test_a_newer_hand_entered_row_wins_over_an_older_import(
    source: Path, catalog_dir: Path
) -> None:
    import_skypilot_offers(
        source, catalog_dir, clouds=["aws"], commit=COMMIT, observed=dt.date(2025, 1, 1)
    )
    p5 = [o for o in _offers(catalog_dir, "aws") if o["instance"] == "p5.48xlarge"]
    assert len(p5) == 1
    assert "skypilot" not in str(p5[0]["source"])
    assert "g5.xlarge" not in _imported(catalog_dir, "aws")  # hand-entered 2026-06-17 is newer


def test_a_gpu_row_without_a_price_is_rejected_naming_the_row(
    source: Path, catalog_dir: Path
) -> None:
    report = import_skypilot_offers(
        source, catalog_dir, clouds=["aws"], commit=COMMIT, observed=OBSERVED
    )
    assert [str(r) for r in report.rejected] == [
        "aws/vms.csv row 10 (g4dn.xlarge): no Price and no SpotPrice"
    ]
    assert "g4dn.xlarge" not in _imported(catalog_dir, "aws")


def test_unknown_accelerators_are_skipped_and_reported(source: Path, catalog_dir: Path) -> None:
    report = import_skypilot_offers(
        source, catalog_dir, clouds=["aws"], commit=COMMIT, observed=OBSERVED
    )
    assert report.unknown_accelerators == {"aws:Trainium": 1}
    assert [r.instance for r in report.skipped] == ["trn1.2xlarge"]
    assert "trn1.2xlarge" not in _imported(catalog_dir, "aws")


def test_import_without_a_date_is_refused(source: Path, catalog_dir: Path) -> None:
    before = (catalog_dir / "offers" / "aws.yaml").read_bytes()
    with pytest.raises(CatalogError, match="--observed"):
        import_skypilot_offers(source, catalog_dir, clouds=["aws"])
    assert (catalog_dir / "offers" / "aws.yaml").read_bytes() == before


def test_accelerator_table_prefers_the_cloud_specific_entry() -> None:
    assert map_accelerator("runpod", "A100-80GB") == "nvidia-a100-pcie-80gb"
    assert map_accelerator("aws", "A100-80GB") == "nvidia-a100-sxm4-80gb"
    assert map_accelerator("aws", "Trainium") is None


def test_cli_import_offers_reports_rejected_rows_and_exits_1(
    source: Path, catalog_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADVISOR_CATALOG_DIR", str(catalog_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli,
            [
                "catalog",
                "import-offers",
                str(source),
                "--cloud",
                "aws",
                "--observed",
                "2026-11-20",
                "--commit",
                COMMIT,
            ],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "rejected: aws/vms.csv row 10 (g4dn.xlarge)" in result.output
    assert "aws 2" in result.output


def test_cli_import_offers_rejects_a_malformed_date(source: Path) -> None:
    result = CliRunner().invoke(
        cli, ["catalog", "import-offers", str(source), "--observed", "11/01"]
    )
    assert result.exit_code == 1
    assert "--observed" in result.output


def test_every_mapped_accelerator_and_cloud_exists_in_the_catalog() -> None:
    """The explicit tables name only catalog GPU ids and providers of offers/providers.yaml."""
    from app.services.offers_import import ACCELERATORS, CLOUD_PROVIDERS

    catalog = load_catalog(REAL_CATALOG)
    gpu_ids = {g.id for g in catalog.gpus}
    assert set(ACCELERATORS.values()) - gpu_ids == set()
    assert set(CLOUD_PROVIDERS.values()) - {p.id for p in catalog.providers} == set()
