"""Production hardening: headers, request ids, CORS, body limit, rate limit, metrics, faults."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

ESTIMATE = {"model": {"preset": "gpt2"}, "hardware": {"gpu": "nvidia-t4"}}


def test_security_headers_and_a_request_id_on_every_response(client: TestClient) -> None:
    response = client.get("/api/v1/gpus?limit=1")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert len(response.headers["x-request-id"]) >= 8
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc123def456"})
    assert echoed.headers["x-request-id"] == "abc123def456"


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.options(
        "/api/v1/estimate",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in response.headers


def test_cors_opens_to_configured_origins(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://ok.example"]}))
    with TestClient(app) as client:
        response = client.options(
            "/api/v1/estimate",
            headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "POST"},
        )
        assert response.headers["access-control-allow-origin"] == "https://ok.example"


def test_oversized_bodies_are_refused_with_413(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 10_000}))
    with TestClient(app) as client:
        big = {**ESTIMATE, "model": {"hf_config": {"model_type": "llama", "padding": "x" * 20_000}}}
        response = client.post("/api/v1/estimate", json=big)
        assert response.status_code == 413
        assert client.post("/api/v1/estimate", json=ESTIMATE).status_code == 200


def test_expensive_endpoints_are_rate_limited_per_client(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"rate_limit_enabled": True, "rate_limit": "3/minute"})
    )
    with TestClient(app) as client:
        codes = [client.post("/api/v1/estimate", json=ESTIMATE).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert client.get("/api/v1/gpus").status_code == 200  # reads are not limited


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.post("/api/v1/estimate", json=ESTIMATE)
    text = client.get("/metrics").text
    assert 'handler="/api/v1/estimate"' in text
    assert "http_request_duration_seconds" in text
    assert "advisor_estimator_errors_total" in text or "advisor_probe_runs_total" in text


def test_logs_are_json_lines_carrying_the_request_id(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings.model_copy(update={"log_json": True}))
    with TestClient(app) as client:
        client.get("/api/v1/gpus/nope", headers={"X-Request-ID": "req-for-log-1"})
        import logging

        logging.getLogger("app.test").warning("probe of the log format")
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert lines, "no JSON log lines"
    record = json.loads(lines[-1])
    assert {"level", "name", "message", "request_id"} <= record.keys()


def test_database_down_readyz_fails_db_endpoints_503_estimate_still_works(
    settings: Settings,
) -> None:
    broken = settings.model_copy(
        update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"}
    )
    with TestClient(create_app(broken)) as client:
        assert client.get("/readyz").status_code == 503
        gpus = client.get("/api/v1/gpus")
        assert gpus.status_code == 503
        assert "database is unavailable" in gpus.json()["error"]
        estimate = client.post("/api/v1/estimate", json=ESTIMATE)
        assert estimate.status_code == 200, estimate.text
        assert any("database unreachable" in w for w in estimate.json()["warnings"])


def test_csp_forbids_inline_script_and_style_except_on_the_api_docs(client: TestClient) -> None:
    for path in ("/", "/gpus", "/api/v1/gpus?limit=1"):
        policy = client.get(path).headers["content-security-policy"]
        assert "unsafe-inline" not in policy, path
        assert "script-src 'self'" in policy
    docs = client.get("/docs").headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in docs


def test_pages_carry_no_inline_script_or_style(client: TestClient) -> None:
    """What the CSP would block: inline <script> code, <style> blocks, style="" attributes."""
    import re

    answer = client.post(
        "/api/v1/recommend",
        json={"model": {"preset": "gpt2"}, "constraints": {"max_gpus": 2}},
    ).json()
    for path in ("/", "/gpus", "/gpus/nvidia-t4", f"/r/{answer['id']}"):
        html = client.get(path).text
        assert " style=" not in html, path
        assert "<style" not in html, path
        for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in attributes or 'type="application/json"' in attributes, path
            if "src=" in attributes:
                assert not body.strip(), path


def test_share_links_come_from_the_public_url_never_the_host_header(settings: Settings) -> None:
    request = {"model": {"preset": "gpt2"}, "constraints": {"max_gpus": 1}}
    with TestClient(create_app(settings)) as client:
        saved = client.post("/api/v1/recommend", json=request).json()["id"]
        page = client.get(f"/r/{saved}", headers={"Host": "evil.example"}).text
        assert "evil.example" not in page
        assert f'href="/r/{saved}"' in page
    public = settings.model_copy(update={"public_url": "https://advisor.example.org/"})
    with TestClient(create_app(public)) as client:
        page = client.get(f"/r/{saved}", headers={"Host": "evil.example"}).text
        assert f'href="https://advisor.example.org/r/{saved}"' in page
        assert "evil.example" not in page


def test_readyz_reports_status_not_connection_details(settings: Settings) -> None:
    broken = settings.model_copy(
        update={
            "database_url": "postgresql+psycopg://someone@127.0.0.1:1/private?connect_timeout=1"
        }
    )
    with TestClient(create_app(broken)) as client:
        text = client.get("/readyz").text
    for secret in ("someone", "private", "127.0.0.1"):
        assert secret not in text


def test_serve_trusts_no_forwarded_headers_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from app.cli import cli

    seen: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, *a, **k: seen.append(server.config))
    runner = CliRunner()
    assert runner.invoke(cli, ["serve"]).exit_code == 0
    assert (
        runner.invoke(cli, ["serve", "--forwarded-allow-ips", "10.0.0.5, 10.0.0.6"]).exit_code == 0
    )
    default, proxied = seen
    assert default.proxy_headers is False
    assert proxied.proxy_headers is True
    assert proxied.forwarded_allow_ips == "10.0.0.5,10.0.0.6"
