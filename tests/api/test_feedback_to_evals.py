"""Issue 13's "done when", as one run: three articles posted through the API are each kept
unchanged, the holder's claims come back from all three with their offsets, and feedback on one
claim, exported, loads in `newsbrief eval` and is scored on the corrected gold."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr

from newsbrief_dev.evals.dataset import load_cases
from service.api import create_app
from service.cli import main
from service.settings import Settings, get_settings
from tests.conftest import ARTICLES, brief_json, claim

# One original article per file; each has a quote of Mayor Helen Okafor's.
QUOTES = {
    "ferry-levy": "“Nobody likes a new charge,” Ms. Okafor told reporters outside the town hall.",
    "harbour-wall-works": "“I would rather lose three weeks than lose the wall,” Mayor Helen "
    "Okafor said at Thursday's harbour committee.",
    "library-sunday-opening": "“A town this size should have somewhere warm and free to go on a "
    "Sunday afternoon,” Ms. Okafor said.",
}
TARGETS = {
    "ferry-levy": "the ferry levy",
    "harbour-wall-works": "the delayed harbour wall works",
    "library-sunday-opening": "Sunday opening at the library",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both storage set-ups: the default SQLite file in ./data (each test's own cwd), and a
    database of the test's own on the throwaway PostgreSQL server; the CLI finds it in the env."""
    if request.param == "sqlite":
        yield ""
        return
    url: str = request.getfixturevalue("fresh_postgres_url")
    monkeypatch.setenv("NEWSBRIEF_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def kept_client(
    settings: Settings, llm_mock: respx.MockRouter, database_url: str
) -> Iterator[TestClient]:
    # A generous write wait, so a loaded machine does not turn "kept" into not_stored.
    settings = settings.model_copy(
        update={
            "store_write_timeout_s": 10.0,
            "database_url": SecretStr(database_url) if database_url else None,
        }
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_three_articles_kept_searched_reviewed_exported_and_scored(
    kept_client: TestClient,
    llm_mock: respx.MockRouter,
    completion: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
) -> None:
    texts = {name: (ARTICLES / f"{name}.txt").read_text(encoding="utf-8") for name in QUOTES}
    answers = [
        completion(brief_json([claim(QUOTES[name], target=TARGETS[name])])) for name in QUOTES
    ]
    llm_mock.post("/chat/completions").mock(
        side_effect=[respx.MockResponse(200, json=a) for a in answers]
    )

    posted = {}
    for name, text in texts.items():
        article = {"text": text, "title": name}
        response = kept_client.post("/v1/summaries", json={"article": article})
        assert response.status_code == 200, response.text
        assert "not_stored" not in response.text
        posted[name] = response

    # Each retrievable by id, byte for byte what was sent.
    for response in posted.values():
        kept = kept_client.get(f"/v1/summaries/{response.json()['id']}")
        assert kept.status_code == 200 and kept.headers["Stored-At"]
        assert kept.content == response.content

    # The holder's claims from all three, with offsets into each article.
    found = kept_client.get("/v1/claims", params={"holder": "Helen Okafor"})
    assert found.status_code == 200, found.text
    items = found.json()["items"]
    by_summary = {r.json()["id"]: name for name, r in posted.items()}
    assert sorted(by_summary[i["summary_id"]] for i in items) == sorted(QUOTES)
    for item in items:
        text, evidence = texts[by_summary[item["summary_id"]]], item["evidence"]
        assert text[evidence["start"] : evidence["end"]] == evidence["text"]

    # Feedback on one claim: the mayor's position on the harbour works is read as opposition.
    reviewed = posted["harbour-wall-works"].json()["id"]
    feedback = {"claim": 0, "verdict": "incorrect", "corrected": {"stance": "oppose"}}
    given = kept_client.post(f"/v1/summaries/{reviewed}/feedback", json=feedback)
    assert given.status_code in (200, 201), given.text

    drafts, report_dir = tmp_path / "drafts", tmp_path / "report"
    assert main(["feedback", "export", "--out", str(drafts)]) == 0
    assert "1 reviewed brief:" in capsys.readouterr().out
    [case] = load_cases(drafts)
    assert case.id == reviewed and case.article.text == texts["harbour-wall-works"]
    [gold] = case.gold.claims
    assert (gold.holder, gold.stance.value) == ("Helen Okafor", "oppose")

    args = ["--evals-dir", str(drafts), "--prompt", "summarize@v1", "--out", str(report_dir)]
    assert main(["eval", *args]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    [v1] = [r for r in report["rows"] if r["name"] == "summarize@v1"]
    [scored] = v1["cases"]
    assert scored["source"] == "recorded" and scored["ok"], scored["error"]
    # The stored answer said "support": against the corrected gold it is a stance error, not a hit.
    assert (scored["predicted"], scored["gold"]) == (1, 1)
    assert (scored["matched"], scored["stance_errors"]) == (0, 1)
    # With a PostgreSQL URL, API and CLI both used it: no SQLite file was made on the side.
    assert (Path("data/newsbrief.db").exists()) == (not database_url)
