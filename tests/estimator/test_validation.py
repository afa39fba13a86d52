"""The validation suite: enough published rows, each sourced, and the stored error band current."""

from __future__ import annotations

import pytest

from app.services.catalog import LoadedCatalog
from app.services.validation import ValidationReport, error_band_from, run_validation


@pytest.fixture(scope="module")
def report(catalog: LoadedCatalog) -> ValidationReport:
    return run_validation(catalog)


def test_at_least_30_published_measurements_are_scored(report: ValidationReport) -> None:
    assert len({r.id for r in report.rows}) >= 30
    assert len(report.errors("time")) >= 30
    assert len(report.errors("memory")) >= 8


def test_every_scored_row_names_its_source(report: ValidationReport) -> None:
    for row in report.rows:
        assert row.source, row.id
        assert row.source[0].isalnum(), row.id
        assert row.measured > 0
        assert row.predicted is not None
        assert row.predicted > 0


def test_skipped_rows_say_why(report: ValidationReport) -> None:
    for row_id, reason in report.skipped:
        assert reason, row_id


def test_the_error_band_estimates_quote_is_the_current_validation_result(
    catalog: LoadedCatalog, report: ValidationReport
) -> None:
    """catalog/error_bands.yaml must be regenerated (gpu-advisor validate --write-error-band)
    whenever the estimator or the validation rows change."""
    assert catalog.error_band is not None
    fresh = error_band_from(report)
    stored = catalog.error_band.model_dump()
    for key in (
        "time_pct",
        "memory_pct",
        "time_median_pct",
        "memory_median_pct",
        "time_rows",
        "memory_rows",
    ):
        assert stored[key] == pytest.approx(fresh[key], abs=0.15), key
