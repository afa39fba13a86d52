"""Server-rendered pages through the app (no browser): forms, errors, pages, offline assets."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.services.catalog import LoadedCatalog

FORM = {
    "model_source": "preset", "preset": "llama-2-7b", "task": "qlora", "precision": "bf16", "seq_len": "2048",
    "micro_batch": "1", "tokens": "1e8", "optimizer": "adamw", "activation_checkpointing": "none",
    "max_gpus": "8", "objective": "balanced", "allow_checkpointing": "on", "allow_zero": "on", "allow_8bit": "on",
}  # fmt: skip


def test_form_page_lists_the_presets(client: TestClient) -> None:
    html = client.get("/").text
    assert 'name="preset"' in html
    assert "Llama 2 7B" in html


def test_submitting_the_form_redirects_to_a_shareable_result(client: TestClient) -> None:
    response = client.post("/", data=FORM, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/r/[A-Za-z0-9_-]{12}", location)
    page = client.get(location).text
    assert "Ranking" in page
    assert "Time vs cost" in page
    assert location in page


def test_a_bad_number_is_shown_beside_its_field(client: TestClient) -> None:
    response = client.post("/", data={**FORM, "seq_len": "lots"})
    assert response.status_code == 422
    assert 'id="seq_len-error"' in response.text
    assert "is not a number" in response.text
    assert 'value="lots"' in response.text  # the user's input is kept


def test_an_out_of_range_value_names_the_field(client: TestClient) -> None:
    response = client.post("/", data={**FORM, "max_gpus": "0"})
    assert response.status_code == 422
    assert 'id="max_gpus-error"' in response.text


def test_invalid_config_json_is_shown_beside_the_textarea(client: TestClient) -> None:
    response = client.post("/", data={**FORM, "model_source": "config", "hf_config": "{not json"})
    assert response.status_code == 422
    assert 'id="hf_config-error"' in response.text


def test_unsupported_config_family_is_a_field_error_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/", data={**FORM, "model_source": "config", "hf_config": '{"model_type": "falcon"}'}
    )
    assert response.status_code == 422
    assert "not supported" in response.text


def test_catalog_page_filters(client: TestClient) -> None:
    html = client.get("/gpus?vendor=amd&min_memory_gb=128").text
    assert "MI300X" in html
    assert "H100" not in html


def test_gpu_page_shows_sources_and_prices(client: TestClient) -> None:
    html = client.get("/gpus/nvidia-h100-sxm").text
    assert "Sources" in html
    assert "Prices" in html
    assert "989.4" in html


def test_unknown_result_and_gpu_are_404(client: TestClient) -> None:
    assert client.get("/r/doesnotexist").status_code == 404
    assert client.get("/gpus/nvidia-h900").status_code == 404


def test_pages_load_nothing_from_other_hosts(client: TestClient) -> None:
    for path in ("/", "/gpus", "/gpus/nvidia-h100-sxm", "/docs"):
        html = client.get(path).text
        for asset in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
            assert asset.startswith("/"), f"{path} loads {asset}"
            assert client.get(asset).status_code == 200, asset


def test_gpu_page_lists_rentable_instances(client: TestClient, catalog: LoadedCatalog) -> None:
    html = client.get("/gpus/nvidia-h100-sxm").text
    assert "Rent it" in html
    for offer in (o for o in catalog.offers if o.gpu == "nvidia-h100-sxm"):
        assert offer.instance in html


def test_result_page_shows_the_range_the_offer_and_why_not(client: TestClient) -> None:
    response = client.post("/", data={**FORM, "max_budget_usd": "3"}, follow_redirects=True)
    page = response.text
    assert "Range:" in page
    assert "per instance-hour" in page
    assert "Why not:" in page
    assert "over max_budget_usd" in page


def test_a_batch_no_gpu_count_can_split_is_one_error_on_both_fields(client: TestClient) -> None:
    response = client.post(
        "/", data={**FORM, "task": "finetune", "global_batch": "3", "micro_batch": "2"}
    )
    assert response.status_code == 422
    for field in ("global_batch", "micro_batch"):
        error = re.search(rf'id="{field}-error">([^<]*)<', response.text)
        assert error, f"no error beside {field}"
        assert "Global batch (3)" in error.group(1)
        assert "Micro-batch per GPU (2)" in error.group(1)
    assert "does not fit" not in response.text


def test_all_field_errors_come_at_once_in_plain_words_with_focus_on_the_first(
    client: TestClient,
) -> None:
    response = client.post("/", data={**FORM, "seq_len": "lots", "max_gpus": "0", "tokens": "-5"})
    assert response.status_code == 422
    html = response.text
    assert 'id="seq_len-error"' in html
    assert 'id="max_gpus-error">must be at least 1<' in html
    assert 'id="tokens-error">must be more than 0<' in html
    assert "Input should be" not in html
    assert html.count("autofocus") == 1
    assert re.search(r'id="seq_len"[^>]*autofocus', html)


def test_a_sequence_beyond_learned_positions_is_a_form_error_naming_both(
    client: TestClient,
) -> None:
    response = client.post(
        "/", data={**FORM, "preset": "gpt2", "task": "finetune", "seq_len": "4096"}
    )
    assert response.status_code == 422
    assert re.search(r'id="seq_len-error">[^<]*1024 learned positions', response.text)
    assert re.search(r'id="preset-error">[^<]*1024 learned positions', response.text)


def test_edit_these_inputs_refills_the_form_from_the_saved_request(client: TestClient) -> None:
    data = {
        **FORM,
        "seq_len": "1024",
        "max_budget_usd": "75",
        "vendors": "amd",
        "objective": "cheapest",
    }
    location = client.post("/", data=data, follow_redirects=False).headers["location"]
    page = client.get(location).text
    edit = re.search(r'id="edit-inputs" href="([^"]+)"', page)
    assert edit
    form = client.get(edit.group(1).replace("&amp;", "&")).text
    assert re.search(r'id="seq_len"[^>]*value="1024"', form)
    assert re.search(r'id="max_budget_usd"[^>]*value="75"', form)
    assert re.search(r'value="amd" checked', form)
    assert re.search(r'<option value="cheapest" selected', form)
    assert re.search(r'<option value="llama-2-7b" selected', form)


def test_results_restate_the_inputs_and_fold_the_gpus_that_do_not_fit(client: TestClient) -> None:
    data = {**FORM, "preset": "llama-2-70b", "task": "finetune", "max_gpus": "1"}
    location = client.post("/", data=data, follow_redirects=False).headers["location"]
    page = client.get(location).text
    assert "Your inputs" in page
    assert "preset llama-2-70b" in page
    assert '<details class="folded" id="not-fitting">' in page
    assert "needs at least" in page
