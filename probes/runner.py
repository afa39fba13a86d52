"""Run the probes: select them, run every case (a case that raises is recorded and the run goes
on), build the JSON document, show progress and a summary on stderr, optionally post the
document to the service.

The command line is in `main` (`python -m probes run|list`, see `build_parser`). Exit codes:
0 when at least one case succeeded (or nothing failed: a run whose only probe skipped itself),
1 when every case failed, 2 for a usage error (e.g. an unknown probe name), 3 when the probes
ran but posting the results failed.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from probes.catalog_match import load_catalog_record, memory_bandwidth_gb_s_of, peak_tflops_of
from probes.device import describe_device, telemetry
from probes.workloads import attention, bandwidth, collective, matmul, train_step
from probes.workloads.common import Case, Probe, ProbeConfig, Result, Tier, error_result

PROBE_VERSION = "2"
EXIT_OK, EXIT_ALL_FAILED, EXIT_USAGE, EXIT_SUBMIT_FAILED = 0, 1, 2, 3
TOKEN_ENV = "ADVISOR_API_TOKEN"
MAX_ERROR_CHARS = 2000

PROBES: dict[str, Probe] = {
    probe.name: probe
    for probe in (
        matmul.PROBE,
        bandwidth.PROBE,
        attention.PROBE,
        train_step.PROBE,
        collective.PROBE,
    )
}

# reporter(position, total, case, result): result is None as the case starts, then its record.
Reporter = Callable[[int, int, Case, Result | None], None]


class UsageError(ValueError):
    """A command-line mistake: reported in one line, exit code 2."""


@dataclass(frozen=True)
class Reference:
    """Peak figures the measurements are compared with, and where they come from."""

    peak_tflops: dict[str, float] = field(default_factory=dict)
    memory_bandwidth_gb_s: float | None = None
    source: str | None = None


def select_probes(names: Sequence[str] | None, registry: Mapping[str, Probe]) -> list[Probe]:
    """The probes named (in registry order), or all of them; UsageError names unknown ones."""
    if not names:
        return list(registry.values())
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise UsageError(
            f"unknown probe {', '.join(map(repr, unknown))}; valid probes: {', '.join(registry)}"
        )
    return [probe for name, probe in registry.items() if name in names]


def describe_error(error: BaseException) -> str:
    """ "TypeName: message", cut to MAX_ERROR_CHARS (XLA errors can be very long)."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def run_case(case: Case) -> Result:
    """Run one case; an exception becomes an error record (its arrays are freed first)."""
    try:
        return case.run()
    except Exception as error:  # e.g. out of device memory: record it, keep going
        message = describe_error(error)
    gc.collect()  # the traceback held the failed case's arrays
    return error_result(case.probe, case.dtype, case.size, message)


Sampler = Callable[[], dict[str, Any]]


def run_suite(
    config: ProbeConfig,
    probes: Sequence[Probe],
    reporter: Reporter | None = None,
    sampler: Sampler | None = None,
) -> list[Result]:
    """Every case of every probe, in order, telling `reporter` as each case starts and ends.

    `sampler` (clocks, power, temperature from the vendor tool) is read right after each
    successful case, i.e. under sustained load, and stored as the result's `telemetry`."""
    results: list[Result] = []
    cases: list[Case] = []
    for probe in probes:
        try:
            cases.extend(probe.cases(config))
        except Exception as error:
            results.append(error_result(probe.name, "-", "-", describe_error(error)))
    for position, case in enumerate(cases, start=1):
        if reporter is not None:
            reporter(position, len(cases), case, None)
        result = run_case(case)
        if sampler is not None and succeeded(result):
            sample = sampler()
            if sample:
                result = {**result, "telemetry": sample}
        results.append(result)
        if reporter is not None:
            reporter(position, len(cases), case, result)
    return results


def succeeded(result: Result) -> bool:
    return "error" not in result and "skipped" not in result


def exit_code(results: Sequence[Result]) -> int:
    """0 if a case succeeded or none failed; 1 if every case failed (or there were none)."""
    if any(succeeded(result) for result in results):
        return EXIT_OK
    failed = [result for result in results if "error" in result]
    return EXIT_ALL_FAILED if failed or not results else EXIT_OK


def now_iso() -> str:
    """UTC time, ISO 8601 with seconds: "2026-11-23T10:04:05+00:00"."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def build_document(
    device: Mapping[str, Any],
    results: Sequence[Result],
    *,
    quick: bool,
    started_at: str,
    finished_at: str,
) -> dict[str, Any]:
    """The probe JSON document (the contract `python -m probes run --json` prints)."""
    return {
        "device": dict(device),
        "results": list(results),
        "quick": quick,
        "started_at": started_at,
        "finished_at": finished_at,
        "probe_version": PROBE_VERSION,
    }


def to_json(document: Mapping[str, Any]) -> str:
    """Strict JSON (no NaN or Infinity: a non-finite number is replaced by null)."""
    return json.dumps(_finite(document), indent=2, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class SubmitOutcome:
    ok: bool
    status: int | None
    body: str


def submit(
    document: Mapping[str, Any], url: str, token: str, timeout_s: float = 60.0
) -> SubmitOutcome:
    """POST the document as JSON to `url` with `Authorization: Bearer <token>`."""
    request = urllib.request.Request(
        url,
        data=to_json(document).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "User-Agent": f"gpu-advisor-probes/{PROBE_VERSION}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return SubmitOutcome(True, response.status, response.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:
        with error:
            return SubmitOutcome(False, error.code, error.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError) as error:
        return SubmitOutcome(False, None, describe_error(error))


def parse_peaks(values: Sequence[str], default_dtype: str) -> dict[str, float]:
    """`--peak-tflops` values: "X" (for `default_dtype`) or "DTYPE=X"; UsageError when bad."""
    peaks: dict[str, float] = {}
    for value in values:
        dtype, sep, number = value.rpartition("=")
        dtype = dtype.strip() if sep else default_dtype
        try:
            peak = float(number)
        except ValueError:
            peak = math.nan
        if not math.isfinite(peak) or peak <= 0:
            raise UsageError(f"--peak-tflops expects X or DTYPE=X with X > 0, got {value!r}")
        peaks[dtype] = peak
    return peaks


def reference_for(device: Mapping[str, Any], cli_peaks: Mapping[str, float]) -> Reference:
    """Peaks of the matched catalog record (if the catalog can be read), overridden by the CLI."""
    peaks: dict[str, float] = {}
    bandwidth_gb_s = None
    sources = []
    gpu_id = device.get("catalog_id")
    record = load_catalog_record(gpu_id) if gpu_id else None
    if record is not None:
        peaks.update(peak_tflops_of(record))
        bandwidth_gb_s = memory_bandwidth_gb_s_of(record)
        sources.append(f"catalog:{gpu_id}")
    if cli_peaks:
        peaks.update(cli_peaks)
        sources.append("--peak-tflops")
    return Reference(peaks, bandwidth_gb_s, "+".join(sources) or None)


def _variant(result: Result) -> str:
    if "kernel" in result:
        return str(result["kernel"])
    if "causal" in result:
        return "causal" if result["causal"] else "full"
    return ""


def _throughput(result: Result) -> str:
    if "error" in result:
        return "error"
    if "skipped" in result:
        return "skipped"
    if result.get("tflops") is not None:
        return f"{result['tflops']:.3g} TFLOP/s"
    if result.get("gb_s") is not None:
        return f"{result['gb_s']:.4g} GB/s"
    return "-"


def _versus_peak(result: Result, reference: Reference) -> tuple[str, str]:
    if not succeeded(result):
        return "-", "-"
    if result.get("tflops") is not None:
        peak = reference.peak_tflops.get(str(result.get("dtype")))
        if peak:
            return f"{peak:.4g} TFLOP/s", f"{100 * result['tflops'] / peak:.1f}%"
    elif result["probe"] == bandwidth.NAME and reference.memory_bandwidth_gb_s:
        peak = reference.memory_bandwidth_gb_s
        return f"{peak:.4g} GB/s", f"{100 * result['gb_s'] / peak:.1f}%"
    return "-", "-"


def _note(result: Result) -> str:
    if "error" in result:
        return str(result["error"]).splitlines()[0][:80]
    if "skipped" in result:
        return str(result["skipped"])
    if result["probe"] == train_step.NAME:
        return f"{result['tokens_per_s']:,.0f} tokens/s"
    return ""


def summary_table(results: Sequence[Result], reference: Reference) -> Table:
    """One row per result: median time, throughput and, where a peak is known, the fraction of
    it reached. Columns that would be empty for every row are left out."""
    title = "Probe results" + (f" (peaks: {reference.source})" if reference.source else "")
    rows = []
    for result in results:
        median = f"{result['median_s'] * 1e3:.3g} ms" if "median_s" in result else "-"
        probe = " ".join(part for part in (str(result["probe"]), _variant(result)) if part)
        size = str(result.get("size", ""))
        measured = (str(result.get("dtype", "")), size, median, _throughput(result))
        rows.append((probe, *measured, *_versus_peak(result, reference), _note(result)))
    columns = ["probe", "dtype", "size", "median", "measured", "peak", "of peak", "note"]
    keep = [
        i
        for i, name in enumerate(columns)
        if name not in ("peak", "of peak", "note") or any(row[i] not in ("", "-") for row in rows)
    ]
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for i in keep:
        justify: Literal["left", "right"] = (
            "right" if columns[i] in ("median", "of peak") else "left"
        )
        table.add_column(columns[i], justify=justify)
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def build_parser(registry: Mapping[str, Probe]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m probes",
        description="Measure this machine with JAX probe workloads and report JSON.",
        epilog="Exit codes: 0 ok, 1 every probe failed, 2 usage error, 3 posting failed.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the probes")
    run = commands.add_parser("run", help="run the probes")
    run.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    run.add_argument(
        "--only",
        nargs="+",
        action="extend",
        metavar="NAME",
        help=f"run only these probes (of: {', '.join(registry)})",
    )
    run.add_argument(
        "--warmup-s",
        type=float,
        default=None,
        metavar="S",
        help="warm-up seconds per case (default 0.5; 0.1 with --quick on a CPU)",
    )
    run.add_argument("--json", action="store_true", help="print the JSON document on stdout")
    run.add_argument("--out", type=Path, metavar="FILE", help="also write the JSON to FILE")
    run.add_argument("--submit", metavar="URL", help="POST the JSON to URL (http or https)")
    run.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"bearer token for --submit (default: ${TOKEN_ENV})",
    )
    run.add_argument(
        "--peak-tflops",
        nargs="+",
        action="extend",
        default=[],
        metavar="X|DTYPE=X",
        help="dense peak TFLOP/s for MFU and the summary; a bare X is for the model dtype "
        "(bf16 on GPUs and TPUs, fp32 on CPUs); overrides the catalog's figure",
    )
    return parser


def _check_outputs(args: argparse.Namespace) -> None:
    """Usage errors that would otherwise surface only after the probes have run."""
    if args.out is not None and not args.out.parent.is_dir():
        raise UsageError(f"--out: folder {str(args.out.parent)!r} does not exist")
    if not args.submit:
        return
    if not args.submit.startswith(("http://", "https://")):
        raise UsageError(f"--submit needs an http:// or https:// URL, got {args.submit!r}")
    if not args.token:
        raise UsageError(f"--submit needs --token (or ${TOKEN_ENV})")


def _make_reporter(console: Console, progress: Progress | None, task: Any) -> Reporter:
    def report(position: int, total: int, case: Case, result: Result | None) -> None:
        if progress is not None:
            done = position if result is not None else position - 1
            progress.update(task, completed=done, total=total, description=case.label)
        elif result is not None:
            console.print(
                f"[{position}/{total}] {case.label}: {_throughput(result)}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        if result is not None and "error" in result:
            console.print(
                f"{case.label} failed: {result['error']}", style="red", markup=False, soft_wrap=True
            )

    return report


def run_command(args: argparse.Namespace, registry: Mapping[str, Probe], console: Console) -> int:
    """`python -m probes run ...`; returns the exit code."""
    probes = select_probes(args.only, registry)
    _check_outputs(args)
    tier: Tier = "quick" if args.quick else "full"
    started = time.perf_counter()
    device = describe_device()
    local = ProbeConfig.for_local_devices(tier, warmup_s_override=args.warmup_s)
    reference = reference_for(device, parse_peaks(args.peak_tflops, local.model_dtype))
    config = replace(local, peak_tflops=reference.peak_tflops, peak_source=reference.source)
    console.print(
        f"{device['device_kind']} x{device['device_count']} ({device['backend']}), "
        f"catalog: {device['catalog_id'] or 'unmatched'}, {tier} run",
        highlight=False,
        markup=False,
    )
    started_at = now_iso()
    platform_name = str(device.get("platform"))

    def sampler() -> dict[str, Any]:
        return telemetry(platform_name)

    if console.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("starting", total=None)
            results = run_suite(config, probes, _make_reporter(console, progress, task), sampler)
    else:
        results = run_suite(config, probes, _make_reporter(console, None, None), sampler)
    document = build_document(
        device, results, quick=args.quick, started_at=started_at, finished_at=now_iso()
    )
    console.print(summary_table(results, reference))
    console.print(f"wall time {time.perf_counter() - started:.1f} s", highlight=False)

    text = to_json(document)
    if args.json:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    code = exit_code(results)
    if args.submit:
        outcome = submit(document, args.submit, args.token)
        if outcome.status is None:
            console.print(
                f"could not post the results: {outcome.body}", markup=False, soft_wrap=True
            )
        else:
            console.print(
                f"server answered {outcome.status}: {outcome.body}", markup=False, soft_wrap=True
            )
        if not outcome.ok:
            return EXIT_SUBMIT_FAILED
    return code


def main(argv: Sequence[str] | None = None, registry: Mapping[str, Probe] | None = None) -> int:
    """The CLI; `registry` replaces the probe set (tests use it to inject failing probes)."""
    probes = dict(registry if registry is not None else PROBES)
    args = build_parser(probes).parse_args(argv)
    console = Console(stderr=True)
    if args.command == "list":
        for probe in probes.values():
            sys.stdout.write(f"{probe.name:12} {probe.description}\n")
        return EXIT_OK
    try:
        return run_command(args, probes, console)
    except UsageError as error:
        console.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
        return EXIT_USAGE
