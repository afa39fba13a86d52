"""The web process never imports JAX (slow start, grabs GPU memory): probes run in a subprocess."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from app.config import Settings


def test_serving_requests_does_not_import_jax(settings: Settings) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from fastapi.testclient import TestClient
        from app.config import Settings
        from app.main import create_app
        settings = Settings(database_url={settings.database_url!r}, sync_catalog_on_start=False)
        with TestClient(create_app(settings)) as client:
            assert client.get("/api/v1/gpus").status_code == 200
            assert client.get("/readyz").status_code == 200
        leaked = sorted(m for m in sys.modules if m == "jax" or m.startswith(("jax.", "jaxlib", "probes")))
        print(",".join(leaked) or "clean")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "clean"
