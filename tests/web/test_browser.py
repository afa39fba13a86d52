"""End-to-end in a real headless Chromium (Debian's chromium, driven by Playwright).

A real uvicorn server on a free port and a migrated SQLite database; the tests fill the form,
read the ranking and the charts, open the shared link, and check field errors. Screenshots of
each page go to test-artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import migrate
from app.config import PROJECT_ROOT

CHROMIUM = os.environ.get("ADVISOR_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"
# Chromium flags for a sandboxed, offline machine (no background network, no first-run UI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"browser tests cannot run: {reason} (CI=true)", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        _unavailable(f"no Chromium at {CHROMIUM} (Debian package 'chromium')")
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'web.db'}"
    migrate.upgrade(url)
    port = _free_port()
    env = {**os.environ, "ADVISOR_DATABASE_URL": url, "ADVISOR_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(
            f"server did not start: {process.stderr.read().decode() if process.stderr else ''}"
        )
    yield base
    process.terminate()
    process.wait(timeout=10)
    if process.stderr is not None:
        process.stderr.close()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    failed: list[str] = []
    # A request the browser itself aborts (navigation away before it finished) is not a failure.
    page.on(
        "requestfailed",
        lambda r: None if "ERR_ABORTED" in (r.failure or "") else failed.append(r.url),
    )
    yield page
    context.close()
    assert failed == [], f"requests failed (offline assets missing?): {failed}"


def _shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_fill_the_form_see_the_ranking_and_chart_then_open_the_shared_link(
    server: str, page: object
) -> None:
    p = page
    p.goto(f"{server}/")  # type: ignore[attr-defined]
    _shot(p, "form")
    p.select_option("#preset", "llama-2-7b")  # type: ignore[attr-defined]
    p.select_option("#task", "qlora")  # type: ignore[attr-defined]
    p.fill("#tokens", "1e8")  # type: ignore[attr-defined]
    p.check('input[name="segments"][value="consumer"]')  # type: ignore[attr-defined]
    p.click("#submit")  # type: ignore[attr-defined]
    p.wait_for_url("**/r/*")  # type: ignore[attr-defined]
    p.wait_for_selector("body[data-charts-ready=true]")  # type: ignore[attr-defined]
    assert "Best:" in p.inner_text("#best")  # type: ignore[attr-defined]
    rows = p.locator("#ranking tbody tr")  # type: ignore[attr-defined]
    assert rows.count() > 5
    assert "GeForce RTX 4090" in p.inner_text("#ranking")  # type: ignore[attr-defined]
    assert p.eval_on_selector("#scatter", "c => c.width > 0 && c.height > 0")  # type: ignore[attr-defined]
    _shot(p, "results")
    shared = p.get_attribute("#share-link", "href")  # type: ignore[attr-defined]
    first = p.inner_text("#best")  # type: ignore[attr-defined]
    p.goto(f"{server}{shared}")  # type: ignore[attr-defined]
    p.wait_for_selector("body[data-charts-ready=true]")  # type: ignore[attr-defined]
    assert p.inner_text("#best") == first  # type: ignore[attr-defined]


def test_an_invalid_field_shows_its_error_beside_it(server: str, page: object) -> None:
    p = page
    p.goto(f"{server}/")  # type: ignore[attr-defined]
    p.fill("#seq_len", "a lot")  # type: ignore[attr-defined]
    p.fill("#max_gpus", "0")  # type: ignore[attr-defined]
    p.click("#submit")  # type: ignore[attr-defined]
    error = p.locator("#seq_len-error")  # type: ignore[attr-defined]
    assert "is not a number" in error.inner_text()
    assert p.get_attribute("#seq_len", "aria-invalid") == "true"  # type: ignore[attr-defined]
    assert p.input_value("#seq_len") == "a lot"  # type: ignore[attr-defined]
    _shot(p, "form-error")


def test_switching_to_config_json_reports_bad_json_beside_the_textarea(
    server: str, page: object
) -> None:
    p = page
    p.goto(f"{server}/")  # type: ignore[attr-defined]
    p.check('input[name="model_source"][value="config"]')  # type: ignore[attr-defined]
    assert p.is_visible("#hf_config")  # type: ignore[attr-defined]
    assert not p.is_visible("#preset")  # type: ignore[attr-defined]
    p.fill("#hf_config", '{"model_type": "llama",')  # type: ignore[attr-defined]
    p.click("#submit")  # type: ignore[attr-defined]
    assert "not valid JSON" in p.inner_text("#hf_config-error")  # type: ignore[attr-defined]


def test_catalog_sorts_and_filters_and_links_to_a_gpu_page(server: str, page: object) -> None:
    p = page
    p.goto(f"{server}/gpus")  # type: ignore[attr-defined]
    p.click("#catalog th:has-text('Memory GB')")  # type: ignore[attr-defined]
    p.click("#catalog th:has-text('Memory GB')")  # type: ignore[attr-defined]
    memories = [
        float(v)
        for v in p.eval_on_selector_all(  # type: ignore[attr-defined]
            "#catalog tbody tr td:nth-child(5)", "cells => cells.map(c => c.dataset.value)"
        )
    ]
    assert memories == sorted(memories, reverse=True)
    _shot(p, "catalog")
    p.select_option("select[name=vendor]", "amd")  # type: ignore[attr-defined]
    p.click("#filters button")  # type: ignore[attr-defined]
    p.wait_for_url("**vendor=amd**")  # type: ignore[attr-defined]
    assert "NVIDIA" not in p.inner_text("#catalog tbody")  # type: ignore[attr-defined]
    p.click("text=AMD Instinct MI300X")  # type: ignore[attr-defined]
    p.wait_for_url("**/gpus/amd-instinct-mi300x")  # type: ignore[attr-defined]
    assert "1307.4" in p.inner_text("#peaks")  # type: ignore[attr-defined]
    _shot(p, "gpu")
