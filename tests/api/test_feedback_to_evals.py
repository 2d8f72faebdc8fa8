"""Issue 13's "done when", as one run: three articles posted through the API are each kept
unchanged, the holder's claims come back from all three with their offsets, and feedback on one
claim, exported, loads in `newsbrief eval` and is scored on the corrected gold.

tests/api/test_stored.py checks the first two parts in detail; this follows them into the evals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
from fastapi.testclient import TestClient
from pydantic import SecretStr

from newsbrief_dev.evals.dataset import load_cases
from service.api import create_app
from service.cli import main
from service.settings import Settings, get_settings
from tests.api.test_stored import ARTICLES, post_marsh
from tests.store.conftest import BACKENDS, article_text


@pytest.fixture(params=BACKENDS)
def kept_client(
    request: pytest.FixtureRequest,
    settings: Settings,
    llm_mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[TestClient, str | None]]:
    """The app on an empty store of each kind; the CLI finds the same store from the env (the
    SQLite file in ./data, each test's own cwd, or NEWSBRIEF_DATABASE_URL)."""
    url = request.getfixturevalue("fresh_postgres_url") if request.param != "sqlite" else None
    if url:
        monkeypatch.setenv("NEWSBRIEF_DATABASE_URL", url)
    # Each answer waits for its row (generously, for a loaded machine): a GET right after finds it.
    update = {
        "store": "on",
        "store_confirm_s": 10.0,
        "database_url": SecretStr(url) if url else None,
    }
    get_settings.cache_clear()
    with TestClient(create_app(settings.model_copy(update=update))) as client:
        yield client, url
    get_settings.cache_clear()


def test_three_articles_kept_searched_reviewed_exported_and_scored(
    kept_client: tuple[TestClient, str | None],
    llm_mock: respx.MockRouter,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    http, database_url = kept_client
    posted = {name: post_marsh(http, llm_mock, name) for name in ARTICLES}
    for response in posted.values():
        assert response.status_code == 200 and response.json()["warnings"] == [], response.text
        kept = http.get(f"/v1/summaries/{response.json()['id']}")
        assert kept.content == response.content  # byte for byte what was sent

    names = {r.json()["id"]: name for name, r in posted.items()}
    found = http.get("/v1/claims", params={"holder": "Ana Marsh"}).json()["items"]
    assert sorted(names[c["summary_id"]] for c in found) == sorted(ARTICLES)
    for c in found:
        evidence = c["evidence"]
        assert (
            article_text(names[c["summary_id"]])[evidence["start"] : evidence["end"]]
            == (evidence["text"])
        )

    # A reviewer reads Marsh's words at the vote as opposition, not the support the model saw.
    reviewed = posted["water-cap-vote"].json()
    [marsh] = [i for i, c in enumerate(reviewed["claims"]) if "Marsh" in c["holder"]]
    feedback = {"claim": marsh, "verdict": "incorrect", "corrected": {"stance": "oppose"}}
    given = http.post(f"/v1/summaries/{reviewed['id']}/feedback", json=feedback)
    assert given.status_code == 201, given.text

    drafts, report_dir = tmp_path / "drafts", tmp_path / "report"
    assert main(["feedback", "export", "--out", str(drafts)]) == 0
    assert "1 reviewed brief:" in capsys.readouterr().out
    [case] = load_cases(drafts)
    assert case.id == reviewed["id"] and case.article.text == article_text("water-cap-vote")
    [gold] = case.gold.claims
    assert (gold.holder, gold.stance.value) == (reviewed["claims"][marsh]["holder"], "oppose")

    args = ["--evals-dir", str(drafts), "--prompt", "summarize@v1", "--out", str(report_dir)]
    assert main(["eval", *args]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    [v1] = [r for r in report["rows"] if r["name"] == "summarize@v1"]
    [scored] = v1["cases"]
    assert scored["source"] == "recorded" and scored["ok"], scored["error"]
    # The stored answer said "support": against the corrected gold a stance error, not a hit.
    assert (scored["predicted"], scored["gold"]) == (len(reviewed["claims"]), 1)
    assert (scored["matched"], scored["stance_errors"]) == (0, 1)
    # With a PostgreSQL URL, API and CLI both used it: no SQLite file was made on the side.
    assert Path("data/newsbrief.db").exists() == (database_url is None)
