"""Prometheus counters the services increment (HTTP metrics come from the instrumentator)."""

from __future__ import annotations

from prometheus_client import Counter

PROBE_RUNS = Counter(
    "advisor_probe_runs_total", "Probe runs by source and final status.", ["source", "status"]
)
ESTIMATE_ERRORS = Counter(
    "advisor_estimator_errors_total", "Estimates refused, by reason.", ["kind"]
)
