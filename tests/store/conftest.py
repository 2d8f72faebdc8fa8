"""The store's suite runs once on SQLite and once on a real PostgreSQL server (tests/pg_server)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.schemas import SummaryRequest, SummaryResponse
from service.settings import Settings
from service.store import Answer, Store, open_store

STORE_ARTICLES = Path(__file__).parent.parent / "fixtures" / "store"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for an empty store of each kind."""
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path / "data")
    return Settings(database_url=request.getfixturevalue("fresh_postgres_url"))


class Clock:
    """An injected "now" that tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(store_settings: Settings, clock: Clock) -> AsyncIterator[Store]:
    async with open_store(store_settings, clock=clock) as opened:
        yield opened


def sent(answer: Answer, **update: object) -> Answer:
    """`answer` with its response changed by `update` and its body rewritten to match: the body is
    what was sent, and on SQLite the claims kept are read back out of it."""
    response = answer.response.model_copy(update=update)
    return dataclasses.replace(answer, response=response, body=response.model_dump_json().encode())


def article_text(name: str) -> str:
    return (STORE_ARTICLES / f"{name}.txt").read_text(encoding="utf-8")


@pytest.fixture
def answer_for() -> Callable[..., Answer]:
    """An Answer for one of tests/fixtures/store's articles, from the extractive engine."""
    from service.pipeline import _extractive_response

    def make(name: str, **article: object) -> Answer:
        request = SummaryRequest.model_validate(
            {"article": {"text": article_text(name), **article}}
        )
        response: SummaryResponse = _extractive_response(request)
        return Answer(request, response, response.model_dump_json().encode(), latency_ms=1.5)

    return make
