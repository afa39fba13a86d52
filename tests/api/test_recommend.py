"""POST /api/v1/recommend and the saved result."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_recommend_saves_a_result_that_reads_back_the_same(client: TestClient) -> None:
    body = {
        "model": {"preset": "llama-2-7b"},
        "workload": {"task": "qlora"},
        "constraints": {"max_gpus": 4},
    }
    response = client.post("/api/v1/recommend", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"]
    assert answer["options"][0]["rank"] == 1
    again = client.get(f"/api/v1/recommendations/{answer['id']}")
    assert again.status_code == 200
    assert again.json() == answer


def test_unknown_saved_id_is_a_404(client: TestClient) -> None:
    response = client.get("/api/v1/recommendations/nope1234")
    assert response.status_code == 404
    assert "no saved recommendation" in response.json()["error"]


def test_bad_constraints_are_422s_naming_the_field(client: TestClient) -> None:
    body = {
        "model": {"preset": "gpt2"},
        "constraints": {"max_gpus": 0, "vendors": ["nvida"]},
        "objective": "fast",
    }
    response = client.post("/api/v1/recommend", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    for field in ("body.constraints.max_gpus", "body.constraints.vendors.0", "body.objective"):
        assert field in error
