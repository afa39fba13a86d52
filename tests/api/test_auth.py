"""Bearer tokens on write endpoints: hashed at rest, revocable, constant-time checked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken
from app.services.auth import create_token, digest, revoke_token

SUBMISSION = {
    "device": {"backend": "cpu", "device_kind": "cpu", "device_count": 1},
    "results": [
        {
            "probe": "matmul",
            "dtype": "fp32",
            "size": "256x256x256",
            "tflops": 0.05,
            "median_s": 0.001,
        }
    ],
}


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer wrong-token", "Basic dXNlcjpwYXNz", "test-token"]
)
def test_writes_without_a_valid_token_are_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/probe-results", json=SUBMISSION, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "token" in response.json()["error"]


def test_the_configured_token_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/api/v1/probe-results", json=SUBMISSION, headers={"Authorization": "Bearer test-token"}
    )
    assert response.status_code == 201, response.text


def test_created_tokens_are_stored_hashed_and_stop_working_when_revoked(
    client: TestClient, db_session: Session
) -> None:
    token = create_token(db_session, "gpu-host-1")
    stored = db_session.scalars(select(ApiToken).where(ApiToken.name == "gpu-host-1")).one()
    assert stored.token_sha256 == digest(token)
    assert token not in stored.token_sha256
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/probe-results", json=SUBMISSION, headers=headers).status_code == 201
    revoke_token(db_session, "gpu-host-1")
    assert client.post("/api/v1/probe-results", json=SUBMISSION, headers=headers).status_code == 401


def test_reads_stay_open(client: TestClient) -> None:
    assert client.get("/api/v1/gpus").status_code == 200
    assert client.get("/api/v1/models").status_code == 200
