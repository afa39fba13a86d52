"""Faults and load against a real server: uvicorn in a subprocess on a free loopback port.

What issue 14 found broken, checked end to end (bounded: a few seconds of traffic each, no
network beyond 127.0.0.1):

- 50 concurrent POST /api/v1/recommend from one client: no 5xx, and /healthz answers within a
  second (p99) throughout, on SQLite and PostgreSQL;
- each bad input found there answers 4xx in the documented {error, detail} shape;
- a database whose schema was dropped answers 503 in that shape, and recovers once migrated;
- a rotating X-Forwarded-For does not reset the rate limit; the form and the API share one
  bucket; failed token attempts are limited; with Redis the limit holds across replicas.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import migrate
from app.config import PROJECT_ROOT
from app.db import make_engine, make_sessionmaker
from app.services.catalog import LoadedCatalog, sync_catalog_into
from tests.databases import fresh_database

pytestmark = pytest.mark.slow

RECOMMEND = {
    "model": {"preset": "llama-3.1-8b"},
    "workload": {"task": "qlora", "seq_len": 2048, "tokens": 1e8},
    "constraints": {"max_gpus": 8},
}
ESTIMATE = {"model": {"preset": "gpt2"}, "hardware": {"gpu": "nvidia-t4"}}
TOKEN = "fault-suite-token"
BURST = 50


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]
    seconds: float

    def json(self) -> object:
        return json.loads(self.body)


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> Reply:
    """One HTTP request with the standard library; HTTP errors are replies, not exceptions."""
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        data, status, got = exc.read(), exc.code, dict(exc.headers)
    return Reply(status, data, {k.lower(): v for k, v in got.items()}, time.perf_counter() - start)


def post_json(base: str, path: str, payload: object, **headers: str) -> Reply:
    return call(
        base,
        "POST",
        path,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json", **headers},
    )


def assert_error_shape(reply: Reply, low: int, high: int) -> dict[str, object]:
    """The documented error body: a JSON object with exactly `error` (text) and `detail`."""
    assert low <= reply.status <= high, (reply.status, reply.body[:300])
    body = reply.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str)
    assert body["error"]
    return body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_logs(log_dir: Path) -> str:
    """The tail of every server log in the folder (for assertion messages)."""
    return "\n".join(p.read_text()[-2000:] for p in sorted(log_dir.glob("server-*.log")))


@contextmanager
def running_server(database_url: str, log_dir: Path, **env: str) -> Iterator[str]:
    """`gpu-advisor serve` in a subprocess on a free port; its base URL; stopped afterwards."""
    port = _free_port()
    log_path = log_dir / f"server-{port}.log"
    environment = {
        **os.environ,
        "ADVISOR_DATABASE_URL": database_url,
        "ADVISOR_SYNC_CATALOG_ON_START": "false",
        "ADVISOR_API_TOKEN": TOKEN,
        "ADVISOR_LOG_LEVEL": "warning",
        "ADVISOR_PROBE_PYTHON": "/nonexistent/python",
        **env,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(base, "GET", "/healthz", timeout_s=2).status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("server did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _prepare(url: str, catalog: LoadedCatalog) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        sync_catalog_into(make_sessionmaker(engine), catalog)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_url(
    request: pytest.FixtureRequest, tmp_path: Path, catalog: LoadedCatalog
) -> Iterator[str]:
    """A fresh, migrated database holding the catalog, of each backend."""
    with fresh_database(request.param, tmp_path) as url:
        _prepare(url, catalog)
        yield url


def test_a_burst_of_recommends_gets_no_5xx_and_healthz_stays_fast(
    backend_url: str, tmp_path: Path
) -> None:
    with running_server(backend_url, tmp_path) as base:
        health_s: list[float] = []
        health_codes: set[int] = set()
        done = threading.Event()

        def poll_health() -> None:
            while not done.is_set():
                reply = call(base, "GET", "/healthz", timeout_s=10)
                health_codes.add(reply.status)
                health_s.append(reply.seconds)
                time.sleep(0.05)

        poller = threading.Thread(target=poll_health)
        poller.start()
        body = json.dumps(RECOMMEND).encode()
        try:
            with ThreadPoolExecutor(BURST) as pool:
                replies = list(
                    pool.map(
                        lambda _: call(
                            base,
                            "POST",
                            "/api/v1/recommend",
                            body,
                            {"Content-Type": "application/json"},
                        ),
                        range(BURST),
                    )
                )
        finally:
            done.set()
            poller.join()
        statuses = sorted(r.status for r in replies)
        assert statuses == [200] * BURST, (statuses, server_logs(tmp_path))
        ids = {json.loads(r.body)["id"] for r in replies}
        assert len(ids) == 1, "the same question is saved once (content-hash dedup)"
        assert health_codes == {200}
        assert len(health_s) >= 10
        p99 = statistics.quantiles(health_s, n=100)[98]
        assert p99 < 1.0, f"/healthz p99 {p99:.2f} s during the burst"
        shared = call(base, "GET", f"/api/v1/recommendations/{ids.pop()}")
        assert shared.status == 200


def _hf(**fields: object) -> dict[str, object]:
    config: dict[str, object] = {
        "model_type": "llama",
        "num_hidden_layers": 32,
        "hidden_size": 4096,
        "num_attention_heads": 32,
        "intermediate_size": 11008,
        "vocab_size": 32000,
    }
    return {"model": {"hf_config": config | fields}, "hardware": {"gpu": "nvidia-h100-sxm"}}


# Each bad input of issue 14 that used to answer 500 or an undocumented shape.
BAD_JSON_INPUTS = {
    "kv heads as a list": _hf(num_key_value_heads=[8]),
    "kv heads as an object": _hf(num_key_value_heads={"n": 8}),
    "head_dim as a list": _hf(head_dim=[128]),
    "experts as a string": _hf(num_local_experts="8"),
    "max positions as a list": _hf(max_position_embeddings=[4096]),
    "layers above the range": _hf(num_hidden_layers=10**9),
    "gpt2 n_inner as an object": {
        "model": {
            "hf_config": {
                "model_type": "gpt2",
                "n_layer": 12,
                "n_embd": 768,
                "n_head": 12,
                "vocab_size": 50257,
                "n_inner": {},
            }
        },
        "hardware": {"gpu": "nvidia-t4"},
    },
    "parameters 1e14": {"model": {"parameters": 1e14}, "hardware": {"gpu": "nvidia-t4"}},
    "LoRA rank above the hidden size": {
        "model": {"preset": "llama-2-7b"},
        "workload": {"task": "lora", "lora": {"rank": 65536}},
        "hardware": {"gpu": "nvidia-h100-sxm"},
    },
    "count: true": {"model": {"preset": "gpt2"}, "hardware": {"gpu": "nvidia-t4", "count": True}},
    "seq_len as a string": {
        "model": {"preset": "gpt2"},
        "workload": {"seq_len": "2048"},
        "hardware": {"gpu": "nvidia-t4"},
    },
    "flash_attention as 1": {
        "model": {"preset": "gpt2"},
        "workload": {"flash_attention": 1},
        "hardware": {"gpu": "nvidia-t4"},
    },
}
# Bodies Python's json module reads but JSON forbids (Infinity, NaN), and bodies that are not JSON.
BAD_RAW_BODIES = {
    "kv heads +Infinity": (
        json.dumps(_hf(num_key_value_heads=12345)).replace("12345", "Infinity"),
        "application/json",
    ),
    "kv heads -Infinity": (
        json.dumps(_hf(num_key_value_heads=12345)).replace("12345", "-Infinity"),
        "application/json",
    ),
    "head_dim NaN": (json.dumps(_hf(head_dim=12345)).replace("12345", "NaN"), "application/json"),
    "plain text": ("just some text", "text/plain"),
    "plain text labelled JSON": ("just some text", "application/json"),
    "empty body": ("", "application/json"),
    "nested 1,000 deep": ("[" * 1000 + "]" * 1000, "application/json"),
    "object nested 1,000 deep": ('{"a":' * 1000 + "1" + "}" * 1000, "application/json"),
}


@pytest.fixture(scope="module")
def sqlite_server(
    tmp_path_factory: pytest.TempPathFactory, catalog: LoadedCatalog
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("faults")
    url = f"sqlite:///{folder / 'faults.db'}"
    _prepare(url, catalog)
    with running_server(url, folder, ADVISOR_RATE_LIMIT_ENABLED="false") as base:
        yield base


@pytest.mark.parametrize("name", sorted(BAD_JSON_INPUTS))
def test_bad_json_inputs_answer_422_in_the_error_shape(sqlite_server: str, name: str) -> None:
    paths = ["/api/v1/estimate"]
    if "count" not in name:  # the rest is bad for a recommendation too
        paths.append("/api/v1/recommend")
    for path in paths:
        payload = dict(BAD_JSON_INPUTS[name])
        if path == "/api/v1/recommend":
            payload.pop("hardware")
        body = assert_error_shape(post_json(sqlite_server, path, payload), 422, 422)
        if "hf_config" in json.dumps(payload):
            assert "hf_config." in str(body["error"]), body  # the config key is named


@pytest.mark.parametrize("name", sorted(BAD_RAW_BODIES))
def test_bad_raw_bodies_answer_4xx_in_the_error_shape(sqlite_server: str, name: str) -> None:
    text_body, content_type = BAD_RAW_BODIES[name]
    for path in ("/api/v1/estimate", "/api/v1/recommend"):
        reply = call(
            sqlite_server, "POST", path, text_body.encode(), {"Content-Type": content_type}
        )
        assert_error_shape(reply, 400, 422)


def test_framework_errors_use_the_error_shape(sqlite_server: str) -> None:
    assert_error_shape(call(sqlite_server, "GET", "/api/v1/nothing-here"), 404, 404)
    assert_error_shape(call(sqlite_server, "DELETE", "/api/v1/gpus"), 405, 405)
    assert_error_shape(call(sqlite_server, "GET", "/api/v1/recommendations/nope"), 404, 404)


def test_a_nul_character_in_a_probe_submission_is_422(sqlite_server: str) -> None:
    submission = {
        "device": {"backend": "gpu", "device_kind": "NVIDIA H100\u0000"},
        "results": [{"probe": "matmul", "dtype": "bf16", "tflops": 700.0}],
    }
    reply = post_json(
        sqlite_server, "/api/v1/probe-results", submission, Authorization=f"Bearer {TOKEN}"
    )
    body = assert_error_shape(reply, 422, 422)
    assert "device.device_kind" in str(body["error"])


def test_readyz_does_not_reveal_the_database_location(tmp_path: Path) -> None:
    url = "postgresql+psycopg://secretuser@127.0.0.1:1/secretdb?connect_timeout=1"
    with running_server(url, tmp_path) as base:
        reply = call(base, "GET", "/readyz")
        assert reply.status == 503
        text_body = reply.body.decode()
        for secret in ("secretuser", "secretdb", "127.0.0.1", "port 1"):
            assert secret not in text_body, text_body
        assert_error_shape(call(base, "GET", "/api/v1/gpus"), 503, 503)


SCHEMA_ROUTES = (
    ("GET", "/api/v1/gpus?offset={phase}"),  # GPU pages are cached per catalog version
    ("GET", "/api/v1/gpus/nvidia-t4"),
    ("POST", "/api/v1/recommend"),
    ("GET", "/api/v1/probe-runs/1"),
    ("GET", "/gpus"),
)


def _drop_schema(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if url.startswith("postgresql"):
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            else:
                tables = list(
                    connection.execute(
                        text("SELECT name FROM sqlite_master WHERE type = 'table'")
                    ).scalars()
                )
                assert tables
                connection.execute(text("PRAGMA foreign_keys=OFF"))
                for table in tables:
                    connection.execute(text(f'DROP TABLE "{table}"'))
    finally:
        engine.dispose()


def test_a_dropped_schema_answers_503_and_recovers_once_migrated(
    backend_url: str, tmp_path: Path, catalog: LoadedCatalog
) -> None:
    with running_server(backend_url, tmp_path, ADVISOR_RATE_LIMIT_ENABLED="false") as base:
        saved = post_json(base, "/api/v1/recommend", RECOMMEND)
        assert saved.status == 200
        saved_id = json.loads(saved.body)["id"]
        routes = (*SCHEMA_ROUTES, ("GET", f"/api/v1/recommendations/{saved_id}"))

        phase = 0

        def answer(method: str, path: str) -> Reply:
            path = path.format(phase=phase)
            if method == "POST":
                return post_json(base, path, RECOMMEND)
            return call(base, method, path, headers={"Accept": "application/json"})

        for method, path in routes:
            assert answer(method, path).status in (200, 404), path
        _drop_schema(backend_url)
        phase = 1
        for method, path in routes:
            assert_error_shape(answer(method, path), 503, 503)
        assert call(base, "GET", "/readyz").status == 503
        assert call(base, "GET", "/healthz").status == 200  # liveness never asks the database
        _prepare(backend_url, catalog)
        phase = 2
        for method, path in routes:
            reply = answer(method, path)
            assert reply.status in (200, 404), (path, reply.status, reply.body[:200])
        assert call(base, "GET", "/readyz").status == 200


@pytest.fixture(scope="module")
def limited_server(
    tmp_path_factory: pytest.TempPathFactory, catalog: LoadedCatalog
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{folder / 'limits.db'}"
    _prepare(url, catalog)
    with running_server(
        url,
        folder,
        ADVISOR_RATE_LIMIT="4/minute",
        ADVISOR_AUTH_FAILURE_LIMIT="3/minute",
    ) as base:
        yield base


def test_rotating_x_forwarded_for_does_not_evade_the_rate_limit(limited_server: str) -> None:
    codes = [
        post_json(
            limited_server, "/api/v1/estimate", ESTIMATE, **{"X-Forwarded-For": f"10.9.{i}.1"}
        ).status
        for i in range(6)
    ]
    assert codes[:4] == [200] * 4, codes
    assert codes[4:] == [429, 429], codes
    limited = post_json(limited_server, "/api/v1/estimate", ESTIMATE)
    body = assert_error_shape(limited, 429, 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert "retry_after_s" in str(body["detail"])
    # The form draws on the same bucket: exhausted through the API, the page is limited too.
    form = call(
        limited_server,
        "POST",
        "/",
        b"model_source=preset&preset=gpt2",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 429


def test_failed_token_attempts_are_limited(limited_server: str) -> None:
    codes = [
        post_json(
            limited_server, "/api/v1/probe-results", {}, Authorization=f"Bearer guess-{i}"
        ).status
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429], codes
    # Even the right token waits out the window once a client has guessed too often.
    right = post_json(limited_server, "/api/v1/probe-results", {}, Authorization=f"Bearer {TOKEN}")
    assert right.status == 429


def _redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_with_redis_the_limit_holds_across_replicas(tmp_path: Path, catalog: LoadedCatalog) -> None:
    if not _redis_available():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("Redis is not reachable at 127.0.0.1:6379 (CI=true: this test must run)")
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    url = f"sqlite:///{tmp_path / 'replicas.db'}"
    _prepare(url, catalog)
    # A database number of its own per run, flushed after, so parallel runs do not share counts.
    database = 1 + uuid.uuid4().int % 15
    redis_url = f"redis://127.0.0.1:6379/{database}"
    env = {"ADVISOR_REDIS_URL": redis_url, "ADVISOR_RATE_LIMIT": "4/minute"}
    try:
        with (
            running_server(url, tmp_path, **env) as first,
            running_server(url, tmp_path, **env) as second,
        ):
            codes = [
                post_json(first if i % 2 else second, "/api/v1/estimate", ESTIMATE).status
                for i in range(6)
            ]
            assert codes == [200, 200, 200, 200, 429, 429], codes
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        client.flushdb()
        client.close()
