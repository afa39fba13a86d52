"""A real app server for tests that need one over loopback (browser, generated client): a fresh
SQLite database migrated to head, `gpu-advisor serve` on a free port, stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from app import migrate


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(db_dir: Path, start_timeout_s: float = 60.0) -> Iterator[str]:
    """Yield the base URL of a server on a new SQLite database in `db_dir`; fail the test with
    the server's own error output when it does not answer /readyz within the timeout."""
    url = f"sqlite:///{db_dir / 'app.db'}"
    migrate.upgrade(url)
    port = free_port()
    env = {**os.environ, "ADVISOR_DATABASE_URL": url, "ADVISOR_LOG_JSON": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            process.kill()
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"server did not start: {stderr}")
        yield base
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
