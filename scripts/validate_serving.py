"""Score the serving simulation against published serving benchmarks (out of sample).

    .venv/bin/python scripts/validate_serving.py

prints each row's measured and simulated figure, what a static-batch roofline predicts, and
the median |error| for output throughput, TPOT and TTFT.
"""

from __future__ import annotations

from app.config import PROJECT_ROOT
from app.services.catalog import load_catalog
from app.services.serving_validation import format_report, run_serving_validation


def main() -> None:
    catalog = load_catalog(PROJECT_ROOT / "catalog")
    print(format_report(run_serving_validation(catalog)))


if __name__ == "__main__":
    main()
