"""The validation suite: enough published rows, each sourced, and the stored error band current."""

from __future__ import annotations

import math

import pytest

from app.services.catalog import LoadedCatalog
from app.services.validation import (
    RowResult,
    ValidationReport,
    error_band_from,
    fit_scale,
    loso_errors,
    run_validation,
    score_families,
)


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
    assert set(stored["families"]) == set(fresh["families"])
    for family, values in fresh["families"].items():
        for key, value in values.items():
            assert stored["families"][family][key] == pytest.approx(value, abs=0.15), (family, key)
    assert stored["basis"].startswith("leave-one-source-out")


def _row(group: str, measured: float, predicted: float, metric: str = "tokens") -> RowResult:
    return RowResult(
        id=f"{group}-{measured}",
        kind="time",
        metric=metric,
        measured=measured,
        predicted=predicted,
        gpu="g",
        count=1,
        source=group,
        family="training_throughput",
        group=group,
    )


def test_the_scale_a_source_is_scored_with_is_fitted_on_the_other_sources_only() -> None:
    """Sources b and c run 20% slower than predicted, a runs 2x faster. The factor a is scored
    with is b's and c's (0.8), so a's error stays large; doubling a's measurements changes
    nothing about the factor it sees, only its error (+60% -> -20%)."""
    rows = [_row("a", 200.0, 100.0), _row("b", 80.0, 100.0), _row("c", 40.0, 50.0)]
    errors = loso_errors(rows)
    assert errors["a-200.0|tokens"] == pytest.approx(100 * abs(0.8 * 100 - 200) / 200)
    rows[0] = _row("a", 400.0, 100.0)
    assert loso_errors(rows)["a-400.0|tokens"] == pytest.approx(100 * abs(80 - 400) / 400)
    # b is scored with the median of a (2.0) and c (0.8) = exp(mean of logs) of the two.
    scale_b = math.exp((math.log(4.0) + math.log(0.8)) / 2)
    assert loso_errors(rows)["b-80.0|tokens"] == pytest.approx(100 * abs(100 * scale_b - 80) / 80)


def test_times_are_scaled_inversely_to_rates() -> None:
    rows = [_row("a", 2.0, 1.0, "step_seconds"), _row("b", 2.0, 1.0, "step_seconds")]
    # Both sources ran at half the predicted speed: step time x 2 fits the other one exactly.
    assert fit_scale(rows) == pytest.approx(0.5)
    assert loso_errors(rows)["a-2.0|step_seconds"] == pytest.approx(0.0)


def test_every_family_is_scored_beside_the_flat_rule(report: ValidationReport) -> None:
    scores = score_families(report)
    training = scores["training_throughput"]
    assert training.sources >= 10
    assert training.flat_rows >= 30
    assert training.median_pct is not None
    assert training.flat_median_pct is not None
