"""The runner and CLI: JSON contract, unknown names, crash handling, exit codes, posting."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rich.console import Console

from probes import runner
from probes.runner import (
    EXIT_ALL_FAILED,
    EXIT_OK,
    EXIT_SUBMIT_FAILED,
    EXIT_USAGE,
    PROBES,
    Reference,
    UsageError,
    exit_code,
    main,
    parse_peaks,
    run_suite,
    select_probes,
    summary_table,
)
from probes.workloads.common import Case, Probe, ProbeConfig, Result

DOCUMENT_KEYS = {"device", "results", "quick", "started_at", "finished_at", "probe_version"}


def _fake_result(name: str) -> Result:
    return {
        "probe": name,
        "dtype": "fp32",
        "size": "8x8x8",
        "tflops": 0.5,
        "flops": 1024.0,
        "median_s": 2e-3,
        "min_s": 1e-3,
        "max_s": 3e-3,
        "stdev_s": 1e-3,
        "iqr_s": 1e-3,
        "repeats": 3,
    }


def _probe(name: str, run: Callable[[], Result]) -> Probe:
    return Probe(name, f"{name} (test double)", lambda config: [Case(name, "fp32", "8x8x8", run)])


def _out_of_memory() -> Result:
    raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.0GiB")


def _no_cases(config: ProbeConfig) -> list[Case]:
    raise RuntimeError("could not plan cases")


GOOD = _probe("good", lambda: _fake_result("good"))
CRASHING = _probe("crashing", _out_of_memory)
BROKEN = Probe("broken", "cases() raises", _no_cases)


def test_list_prints_every_probe_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == EXIT_OK
    out = capsys.readouterr().out
    for name in ("matmul", "bandwidth", "attention", "train_step", "collective"):
        assert name in out


def test_an_unknown_probe_exits_2_and_lists_the_valid_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--only", "matmul", "nope"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown probe 'nope'" in err
    assert "matmul, bandwidth, attention, train_step, collective" in err


def test_only_keeps_registry_order_and_all_is_the_default() -> None:
    assert [p.name for p in select_probes(["collective", "matmul"], PROBES)] == [
        "matmul",
        "collective",
    ]
    assert select_probes(None, PROBES) == list(PROBES.values())
    with pytest.raises(UsageError, match="valid probes"):
        select_probes(["gemm"], PROBES)


def test_a_crashing_case_is_recorded_and_the_run_goes_on(tiny: ProbeConfig) -> None:
    results = run_suite(tiny, [CRASHING, BROKEN, GOOD])
    by_probe = {result["probe"]: result for result in results}
    assert by_probe["crashing"]["error"].startswith("RuntimeError: RESOURCE_EXHAUSTED")
    assert by_probe["crashing"]["size"] == "8x8x8"
    assert by_probe["broken"]["error"] == "RuntimeError: could not plan cases"
    assert by_probe["good"]["tflops"] == 0.5


def test_exit_code_is_0_if_one_case_succeeded_and_1_if_all_failed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = {"crashing": CRASHING, "good": GOOD}
    assert main(["run", "--json"], registry=registry) == EXIT_OK
    capsys.readouterr()
    assert main(["run", "--json", "--only", "crashing"], registry=registry) == EXIT_ALL_FAILED
    captured = capsys.readouterr()
    (result,) = json.loads(captured.out)["results"]
    assert "RESOURCE_EXHAUSTED" in result["error"]
    assert "crashing 8x8x8 failed" in captured.err.replace("fp32 ", "")


def test_a_run_whose_only_case_skipped_itself_is_not_a_failure() -> None:
    skipped = {"probe": "collective", "dtype": "fp32", "size": "4MiB", "skipped": "one device"}
    assert exit_code([skipped]) == EXIT_OK
    assert exit_code([skipped, {"probe": "x", "dtype": "-", "size": "-", "error": "E"}]) == 1
    assert exit_code([]) == EXIT_ALL_FAILED


def test_json_is_exactly_the_document_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "probe.json"
    code = main(["run", "--json", "--out", str(out_file)], registry={"good": GOOD})
    assert code == EXIT_OK
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == DOCUMENT_KEYS
    assert document["quick"] is False
    assert document["probe_version"] == "2"
    started = datetime.fromisoformat(document["started_at"])
    assert started <= datetime.fromisoformat(document["finished_at"])
    assert started.tzinfo is not None
    for key in ("backend", "device_kind", "device_count", "jax_version", "catalog_id"):
        assert key in document["device"]
    assert document["results"] == [_fake_result("good")]
    assert json.loads(out_file.read_text()) == document
    assert "Probe results" in captured.err  # the summary goes to stderr


def test_a_real_quick_probe_run_gives_the_contract_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--quick", "--json", "--only", "bandwidth"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["quick"] is True
    assert document["device"]["backend"] == "cpu"
    for result in document["results"]:
        assert result["probe"] == "bandwidth"
        assert result["gb_s"] > 0
        for key in ("dtype", "size", "median_s", "min_s", "max_s", "iqr_s", "repeats", "bytes"):
            assert key in result


def test_non_finite_numbers_become_null_in_the_json() -> None:
    text = runner.to_json({"device": {}, "results": [{"tflops": float("inf")}]})
    assert json.loads(text)["results"][0]["tflops"] is None


def test_peak_tflops_accepts_a_bare_number_for_the_model_dtype_or_dtype_pairs() -> None:
    assert parse_peaks(["50"], "bf16") == {"bf16": 50.0}
    assert parse_peaks(["fp32=1.5", "bf16=989.4"], "fp32") == {"fp32": 1.5, "bf16": 989.4}
    for bad in ("abc", "bf16=-1", "bf16=nan", "0"):
        with pytest.raises(UsageError, match="--peak-tflops"):
            parse_peaks([bad], "bf16")


def test_a_bad_peak_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--peak-tflops", "fast"], registry={"good": GOOD}) == EXIT_USAGE
    assert "--peak-tflops" in capsys.readouterr().err


def test_the_summary_compares_with_the_peak_of_the_same_dtype() -> None:
    console = Console(record=True, width=200)
    reference = Reference({"fp32": 1.0}, None, "--peak-tflops")
    console.print(summary_table([_fake_result("good")], reference))
    text = console.export_text()
    assert "50.0%" in text
    assert "--peak-tflops" in text


def test_the_catalog_reference_uses_the_matched_records_peaks() -> None:
    reference = runner.reference_for({"catalog_id": "nvidia-h100-sxm"}, {"bf16": 900.0})
    assert reference.peak_tflops["bf16"] == 900.0  # the command line wins
    assert reference.peak_tflops["fp32"] == 67
    assert reference.memory_bandwidth_gb_s == 3350
    assert reference.source == "catalog:nvidia-h100-sxm+--peak-tflops"
    assert runner.reference_for({"catalog_id": None}, {}) == Reference()


class _Recorder(BaseHTTPRequestHandler):
    """Answers 201 to the right bearer token, 401 otherwise; remembers what it got."""

    received: ClassVar[list[tuple[str | None, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        authorization = self.headers.get("Authorization")
        self.received.append((authorization, json.loads(body)))
        ok = authorization == "Bearer s3cret"
        answer = b'{"probe_run_id": 7}' if ok else b'{"error": "unauthorized"}'
        self.send_response(201 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.received = []
    httpd = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api/v1/probe-results"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_submit_posts_the_document_with_the_bearer_token(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--submit", server, "--token", "s3cret"], registry={"good": GOOD})
    assert code == EXIT_OK
    ((authorization, document),) = _Recorder.received
    assert authorization == "Bearer s3cret"
    assert set(document) == DOCUMENT_KEYS
    err = capsys.readouterr().err
    assert "server answered 201" in err
    assert "probe_run_id" in err
    assert "s3cret" not in err


def test_a_refused_submission_exits_3(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--submit", server, "--token", "wrong"], registry={"good": GOOD})
    assert code == EXIT_SUBMIT_FAILED
    assert "server answered 401" in capsys.readouterr().err


def test_an_unreachable_server_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://127.0.0.1:9/unreachable"  # the discard port: nothing listens there
    code = main(["run", "--submit", url, "--token", "t"], registry={"good": GOOD})
    assert code == EXIT_SUBMIT_FAILED
    assert "could not post the results" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--submit", "http://127.0.0.1:1/x"], "needs --token"),
        (["--submit", "file:///etc/passwd", "--token", "t"], "http:// or https://"),
        (["--out", "/no/such/folder/probe.json"], "does not exist"),
    ],
)
def test_output_options_are_checked_before_anything_runs(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(runner.TOKEN_ENV, raising=False)
    assert main(["run", *argv], registry={"good": GOOD}) == EXIT_USAGE
    assert message in capsys.readouterr().err
