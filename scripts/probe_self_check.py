"""Self-check on this machine: run the quick probes, then predict the train_step probe's step
time with the estimator (device rates measured by the same run) and print it beside the
measured one.

    .venv/bin/python scripts/probe_self_check.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from app.models import ProbeRun
from app.schemas.probes import ProbeSubmission
from app.services.catalog import load_catalog
from app.services.probe_results import apply_submission, result_rows
from app.services.probe_self_check import self_check

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="independent probe runs")
    args = parser.parse_args()
    catalog = load_catalog(ROOT / "catalog")
    print(
        f"{'run':>4s} {'device':20s} {'measured step ms':>17s} {'predicted ms':>13s} {'error':>8s}  basis"
    )
    for i in range(1, args.repeat + 1):
        out = subprocess.run(
            [sys.executable, "-m", "probes", "run", "--quick", "--json", "--only", "matmul", "bandwidth", "attention",
             "train_step"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        submission = ProbeSubmission.model_validate(json.loads(out))
        run = ProbeRun(id=i, status="succeeded", source="local")
        apply_submission(run, submission, catalog)
        run.results = result_rows(submission)
        check = self_check(run, catalog)
        if check is None:
            print(f"{i:4d} no train_step result")
            continue
        print(
            f"{i:4d} {run.device_kind or '?':20s} {check.measured_step_s * 1e3:17.1f} {check.predicted_step_s * 1e3:13.1f} "
            f"{check.error_pct:+7.1f}%  {check.basis}"
        )


if __name__ == "__main__":
    main()
