"""End-to-end in a real headless Chromium (Debian's chromium, driven by Playwright).

A real uvicorn server on a free port and a migrated SQLite database; the tests fill the form,
read the ranking and the charts, open the shared link, and check field errors. Every page is
loaded at 390 x 844 (a phone) and 1366 x 768: none may scroll sideways, and axe-core (npm,
`make browser-deps` installs it under tests/web/axe; a test asset, never served) must find no
serious or critical violation. Screenshots go to the pytest tmp dir (printed at the end).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import running_server

CHROMIUM = os.environ.get("ADVISOR_TEST_CHROMIUM", "/usr/bin/chromium")
AXE_JS = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
FORM = {
    "model_source": "preset", "preset": "llama-2-7b", "task": "qlora", "precision": "bf16", "seq_len": "2048",
    "micro_batch": "1", "tokens": "1e8", "optimizer": "adamw", "activation_checkpointing": "none",
    "max_gpus": "8", "objective": "balanced", "allow_checkpointing": "on", "allow_zero": "on", "allow_8bit": "on",
}  # fmt: skip
# Chromium flags for a sandboxed, offline machine (no background network, no first-run UI).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"browser tests cannot run: {reason} (CI=true)", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        _unavailable(f"no Chromium at {CHROMIUM} (Debian package 'chromium')")
    with running_server(tmp_path_factory.mktemp("browser")) as base:
        yield base


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


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def shot(screenshots: Path) -> Any:
    """Save a full-page screenshot under the pytest tmp dir (look at them after a run)."""

    def save(page: object, name: str) -> None:
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]

    return save


@pytest.fixture(scope="module")
def result_path(server: str) -> str:
    """A saved recommendation with fitting and non-fitting GPUs (its /r/{id} path)."""
    response = httpx.post(f"{server}/", data={**FORM, "task": "finetune"}, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    return str(response.headers["location"])


def test_fill_the_form_see_the_ranking_and_chart_then_open_the_shared_link(
    server: str, page: object, shot: Any
) -> None:
    p = page
    p.goto(f"{server}/")  # type: ignore[attr-defined]
    shot(p, "form")
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
    shot(p, "results")
    shared = p.get_attribute("#share-link", "href")  # type: ignore[attr-defined]
    first = p.inner_text("#best")  # type: ignore[attr-defined]
    p.goto(f"{server}{shared}")  # type: ignore[attr-defined]
    p.wait_for_selector("body[data-charts-ready=true]")  # type: ignore[attr-defined]
    assert p.inner_text("#best") == first  # type: ignore[attr-defined]


def test_an_invalid_field_shows_its_error_beside_it(server: str, page: object, shot: Any) -> None:
    p = page
    p.goto(f"{server}/")  # type: ignore[attr-defined]
    p.fill("#seq_len", "a lot")  # type: ignore[attr-defined]
    p.fill("#max_gpus", "0")  # type: ignore[attr-defined]
    p.click("#submit")  # type: ignore[attr-defined]
    error = p.locator("#seq_len-error")  # type: ignore[attr-defined]
    assert "is not a number" in error.inner_text()
    assert p.get_attribute("#seq_len", "aria-invalid") == "true"  # type: ignore[attr-defined]
    assert "must be at least 1" in p.inner_text("#max_gpus-error")  # type: ignore[attr-defined]
    assert p.evaluate("document.activeElement.id") == "seq_len"  # type: ignore[attr-defined]
    assert p.input_value("#seq_len") == "a lot"  # type: ignore[attr-defined]
    shot(p, "form-error")


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


def test_catalog_sorts_and_filters_and_links_to_a_gpu_page(
    server: str, page: object, shot: Any
) -> None:
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
    shot(p, "catalog")
    p.select_option("select[name=vendor]", "amd")  # type: ignore[attr-defined]
    p.click("#filters button")  # type: ignore[attr-defined]
    p.wait_for_url("**vendor=amd**")  # type: ignore[attr-defined]
    assert "NVIDIA" not in p.inner_text("#catalog tbody")  # type: ignore[attr-defined]
    p.click("text=AMD Instinct MI300X")  # type: ignore[attr-defined]
    p.wait_for_url("**/gpus/amd-instinct-mi300x")  # type: ignore[attr-defined]
    assert "1307.4" in p.inner_text("#peaks")  # type: ignore[attr-defined]
    shot(p, "gpu")


def _no_sideways_scroll(p: Any) -> None:
    overflow = p.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth,"
        " Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth + 1 && !e.closest('.table-scroll')).slice(0, 5)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)]"
    )
    assert overflow[0] <= overflow[1], f"{p.url} scrolls sideways: {overflow}"


def _axe(p: Any) -> list[str]:
    p.add_script_tag(path=str(AXE_JS))
    result = p.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',"
        " 'wcag21aa', 'best-practice']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['nodes']}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390x844", "1366x768"])
def test_every_page_fits_the_viewport_and_axe_finds_no_serious_violation(
    server: str, browser: Any, result_path: str, viewport: dict[str, int], shot: Any
) -> None:
    if not AXE_JS.exists():
        _unavailable(f"axe-core not installed at {AXE_JS} (make browser-deps)")
    # axe is injected as a script tag, which the app's CSP (script-src 'self') rightly refuses:
    # the audit context bypasses the CSP; the pages themselves are unchanged.
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    p = context.new_page()
    problems: list[str] = []
    try:
        for name, path in [("form", "/"), ("catalog", "/gpus"),
                           ("gpu", "/gpus/nvidia-h100-sxm"), ("results", result_path)]:  # fmt: skip
            p.goto(f"{server}{path}")
            if name == "results":
                p.wait_for_selector("body[data-charts-ready=true]")
            _no_sideways_scroll(p)
            shot(p, f"{name}-{viewport['width']}x{viewport['height']}")
            problems += [f"{path}: {v}" for v in _axe(p)]
        p.goto(f"{server}/")
        p.fill("#seq_len", "lots")
        p.fill("#max_gpus", "0")
        p.click("#submit")
        p.wait_for_selector("#form-errors")
        _no_sideways_scroll(p)
        shot(p, f"form-errors-{viewport['width']}x{viewport['height']}")
        problems += [f"form with errors: {v}" for v in _axe(p)]
    finally:
        context.close()
    assert problems == []


def test_on_a_phone_the_ranking_is_cards_with_the_decision_fields_first(
    server: str, browser: Any, result_path: str
) -> None:
    context = browser.new_context(viewport=PHONE)
    p = context.new_page()
    try:
        p.goto(f"{server}{result_path}")
        first = p.locator("#ranking tbody tr").first
        assert first.evaluate("r => getComputedStyle(r).display") == "grid"
        assert p.locator("#ranking thead").bounding_box()["height"] <= 1
        shown = first.evaluate(
            "r => Array.from(r.cells).filter(c => getComputedStyle(c).display !== 'none')"
            ".map(c => c.dataset.label + '|' + getComputedStyle(c, '::before').content)"
        )
        assert [s.split("|")[0] for s in shown[:5]] == ["GPU", "GPUs", "Hours", "Cost (USD)", "Fit"]
        assert shown[1].endswith('"GPUs: "')  # each value carries its label on the card
    finally:
        context.close()


def test_batch_no_gpu_count_can_split_is_a_form_error_naming_both_fields(
    server: str, page: Any, shot: Any
) -> None:
    p = page
    p.goto(f"{server}/")
    p.select_option("#task", "finetune")
    p.fill("#micro_batch", "2")
    p.fill("#global_batch", "3")
    p.click("#submit")
    p.wait_for_selector("#form-errors")
    for field in ("#global_batch-error", "#micro_batch-error"):
        text = p.inner_text(field)
        assert "Global batch (3)" in text
        assert "Micro-batch per GPU (2)" in text
    assert p.evaluate("document.activeElement.id") == "micro_batch"
    shot(p, "form-batch-error")


def test_edit_these_inputs_round_trips_through_the_form(server: str, page: Any) -> None:
    p = page
    p.goto(f"{server}/")
    p.select_option("#preset", "mistral-7b")
    p.select_option("#task", "lora")
    p.fill("#seq_len", "1024")
    p.fill("#max_budget_usd", "40")
    p.check('input[name="vendors"][value="nvidia"]')
    p.click("#submit")
    p.wait_for_url("**/r/*")
    first_result = p.url
    assert "preset mistral-7b" in p.inner_text("#inputs")
    p.click("#edit-inputs")
    p.wait_for_selector("#recommend-form")
    assert p.input_value("#preset") == "mistral-7b"
    assert p.input_value("#task") == "lora"
    assert p.input_value("#seq_len") == "1024"
    assert p.input_value("#max_budget_usd") == "40"
    assert p.is_checked('input[name="vendors"][value="nvidia"]')
    p.fill("#seq_len", "2048")
    p.click("#submit")
    p.wait_for_url("**/r/*")
    assert p.url != first_result
    assert "2,048 tokens" in p.inner_text("#inputs")


def test_ranking_filters_and_compare_view(server: str, page: Any, result_path: str) -> None:
    p = page
    p.goto(f"{server}{result_path}")
    rows = p.locator("#ranking tbody tr")
    total = rows.count()
    p.fill("#filter-max-cost", "1")
    visible = p.locator("#ranking tbody tr:not([hidden])")
    costs = visible.evaluate_all("rs => rs.map(r => parseFloat(r.dataset.usd))")
    assert all(c <= 1 for c in costs)
    assert f"({total} fit in all)" in p.inner_text("#filter-count")
    p.fill("#filter-max-cost", "")
    assert total > 15
    assert p.locator("#ranking tbody tr:not([hidden])").count() == 15
    p.click("#show-all")
    assert p.locator("#ranking tbody tr:not([hidden])").count() == total
    p.check("#filter-fits")
    verdicts = p.locator("#ranking tbody tr:not([hidden])").evaluate_all(
        "rs => rs.map(r => r.dataset.verdict)"
    )
    assert set(verdicts) <= {"fits"}
    p.uncheck("#filter-fits")
    picks = p.locator("#ranking input.compare-pick")
    for i in range(3):
        picks.nth(i).check()
    assert picks.nth(3).is_disabled()
    headers = p.locator("#compare-table thead th")
    assert headers.count() == 4
    assert "Hours" in p.inner_text("#compare-table tbody")
    assert p.locator("#ranking th[aria-sort]").count() == 1
    p.click("#ranking th:has-text('Hours') button")
    assert p.get_attribute("#ranking th:has-text('Hours')", "aria-sort") == "ascending"
