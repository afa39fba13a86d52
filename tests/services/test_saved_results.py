"""Saved answers: deduplicated by content hash, size-capped, expired after the retention period,
pruned by the CLI. Runs on both backends."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from app.config import Settings
from app.db import make_sessionmaker, session_scope
from app.errors import NotFoundError
from app.models import SavedRecommendation
from app.schemas.recommend import RecommendRequest
from app.services import saved_results
from app.services.catalog import LoadedCatalog


def _request(tokens: float) -> RecommendRequest:
    """A distinct question per test (the token count), so runs on one database do not collide."""
    return RecommendRequest.model_validate(
        {
            "model": {"preset": "gpt2"},
            "workload": {"task": "finetune", "tokens": tokens},
            "constraints": {"max_gpus": 2, "vendors": ["nvidia"]},
        }
    )


def _unique_tokens() -> float:
    return float(1_000_000 + uuid.uuid4().int % 1_000_000_000)


def _rows(engine: Engine, saved_id: str) -> int:
    with session_scope(make_sessionmaker(engine)) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(SavedRecommendation)
                .where(SavedRecommendation.id == saved_id)
            )
            or 0
        )


def test_the_same_question_is_saved_once(
    engine: Engine, catalog: LoadedCatalog, settings: Settings
) -> None:
    factory = make_sessionmaker(engine)
    request = _request(_unique_tokens())
    first = saved_results.recommend_and_save(factory, request, catalog)
    second = saved_results.recommend_and_save(factory, request, catalog)
    assert first.id is not None
    assert first.id == second.id
    assert _rows(engine, first.id) == 1
    with session_scope(factory) as session:
        _req, answer, version = saved_results.get_saved(session, first.id, settings)
    assert answer.model_dump() == first.model_dump()
    assert version == catalog.version
    other = saved_results.recommend_and_save(factory, _request(_unique_tokens()), catalog)
    assert other.id != first.id


def test_a_pasted_config_is_stored_without_what_the_estimator_never_reads(
    engine: Engine, catalog: LoadedCatalog, settings: Settings
) -> None:
    config = {
        "model_type": "gpt2",
        "n_layer": 2,
        "n_embd": 128,
        "n_head": 2,
        "vocab_size": 1000 + uuid.uuid4().int % 1000,
        "padding": "x" * 3_000_000,
        "task_specific_params": {"summarization": {"nested": list(range(10_000))}},
    }
    request = RecommendRequest.model_validate(
        {"model": {"hf_config": config}, "constraints": {"max_gpus": 1}}
    )
    factory = make_sessionmaker(engine)
    answer = saved_results.recommend_and_save(factory, request, catalog)
    assert answer.id is not None
    with session_scope(factory) as session:
        row = session.get(SavedRecommendation, answer.id)
        assert row is not None
        assert row.size_bytes is not None
        assert row.size_bytes < saved_results.SAVED_RESULT_MAX_BYTES
        stored = row.request["model"]["hf_config"]
    assert "padding" not in stored
    assert "task_specific_params" not in stored
    assert stored["n_embd"] == 128


def test_an_answer_above_the_cap_is_answered_but_not_saved(
    engine: Engine, catalog: LoadedCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(saved_results, "SAVED_RESULT_MAX_BYTES", 1_000)
    answer = saved_results.recommend_and_save(
        make_sessionmaker(engine), _request(_unique_tokens()), catalog
    )
    assert answer.options
    assert answer.id is None


def _age(engine: Engine, saved_id: str, days: int) -> None:
    created = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    if engine.dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    with session_scope(make_sessionmaker(engine)) as session:
        session.execute(
            update(SavedRecommendation)
            .where(SavedRecommendation.id == saved_id)
            .values(created_at=created)
        )


def test_results_past_retention_are_not_served_and_prune_deletes_them(
    engine: Engine, catalog: LoadedCatalog, settings: Settings
) -> None:
    factory = make_sessionmaker(engine)
    old = saved_results.recommend_and_save(factory, _request(_unique_tokens()), catalog)
    fresh = saved_results.recommend_and_save(factory, _request(_unique_tokens()), catalog)
    assert old.id is not None
    assert fresh.id is not None
    _age(engine, old.id, days=31)
    _age(engine, fresh.id, days=29)
    monthly = settings.model_copy(update={"saved_results_days": 30})
    with session_scope(factory) as session:
        with pytest.raises(NotFoundError):
            saved_results.get_saved(session, old.id, monthly)
        saved_results.get_saved(session, fresh.id, monthly)
    forever = settings.model_copy(update={"saved_results_days": 0})
    assert saved_results.prune(factory, forever) == 0
    assert saved_results.prune(factory, monthly) >= 1
    assert _rows(engine, old.id) == 0
    assert _rows(engine, fresh.id) == 1


def test_the_cli_prunes_with_the_configured_retention(
    engine: Engine, catalog: LoadedCatalog, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import cli
    from app.config import get_settings

    factory = make_sessionmaker(engine)
    old = saved_results.recommend_and_save(factory, _request(_unique_tokens()), catalog)
    assert old.id is not None
    _age(engine, old.id, days=400)
    monkeypatch.setenv("ADVISOR_DATABASE_URL", database_url)
    monkeypatch.setenv("ADVISOR_SAVED_RESULTS_DAYS", "365")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["saved", "prune"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "older than 365 days" in result.output
    assert _rows(engine, old.id) == 0
