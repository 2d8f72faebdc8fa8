"""`newsbrief feedback export`: a reviewed brief becomes an eval case draft and a cassette that
`newsbrief eval --evals-dir` loads, replays through the real pipeline and scores on the corrected
gold."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from newsbrief_dev.evals import cassettes
from newsbrief_dev.evals.dataset import Case, load_cases
from newsbrief_dev.evals.runner import replay_case
from service.attribution import analyse
from service.cli import main
from service.feedback_export import aliases, unique_passage
from service.prompts import PromptRegistry
from service.schemas import FeedbackIn, SummaryRequest
from service.settings import Settings
from service.store import Answer, Store, open_store

EVALS = Path(__file__).resolve().parents[2] / "evals"
PROMPT = "summarize@v2"
# Council-vote's v2 answer: claim 0 Dana Whitlock (support), 1 Gareth Lyle (oppose), 2 Maya Chen
# (neutral).
[CASE] = load_cases(EVALS, ["council-vote"])
CASSETTE = cassettes.load(EVALS, PROMPT, CASE.id)
UPSTREAM_TEXT = CASSETTE.responses[0].body["choices"][0]["message"]["content"]


def _settings() -> Settings:
    # Offline: the replay answers every call; data_dir is relative to each test's tmp cwd.
    return Settings().model_copy(update={"llm_api_key": None, "llm_base_url": None})


async def _keep_a_brief(
    store: Store, *, upstream_text: str | None = UPSTREAM_TEXT, case: Case = CASE
) -> str:
    """The v2 brief of the council-vote article, through the real pipeline, kept in the store."""
    settings = _settings()
    registry = PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )
    done = await replay_case(case, CASSETTE, registry, settings)
    assert done.response is not None, done.error
    request = SummaryRequest(article=case.article, prompt_version="v2", options=case.options)
    body = done.response.model_dump_json().encode()
    await store.write([Answer(request, done.response, body, 12.0, upstream_text=upstream_text)])
    return done.response.id


async def _review(store: Store, summary_id: str, *verdicts: dict[str, Any]) -> None:
    for verdict in verdicts:
        await store.add_feedback(summary_id, FeedbackIn.model_validate(verdict))


def _stored(*verdicts: dict[str, Any], **brief: Any) -> str:
    """Keep one brief with these verdicts in the store the default settings open (./data)."""

    async def go() -> str:
        async with open_store(_settings()) as store:
            summary_id = await _keep_a_brief(store, **brief)
            await _review(store, summary_id, *verdicts)
            return summary_id

    return asyncio.run(go())


def _export(out: Path, *args: str) -> int:
    return main(["feedback", "export", "--out", str(out), *args])


def _eval(drafts: Path, report_dir: Path) -> dict[str, Any]:
    code = main(["eval", "--evals-dir", str(drafts), "--prompt", PROMPT, "--out", str(report_dir)])
    assert code == 0
    report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    return report


LYLE_OPPOSES_ACCEPTED = {"claim": 1, "verdict": "correct"}
LYLE_CORRECTED_TO_SUPPORT = {"claim": 1, "verdict": "incorrect", "corrected": {"stance": "support"}}


@pytest.mark.parametrize(
    ("lyle", "matched", "stance_errors"),
    [
        pytest.param(LYLE_OPPOSES_ACCEPTED, 2, 0, id="accepted: both claims hit"),
        pytest.param(LYLE_CORRECTED_TO_SUPPORT, 1, 1, id="stance corrected: Lyle's is a miss"),
    ],
)
def test_a_draft_replays_and_scores_the_corrected_gold(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lyle: dict[str, Any],
    matched: int,
    stance_errors: int,
) -> None:
    whitlock = {"claim": 0, "verdict": "correct", "reviewer": "desk"}
    chen = {"claim": 2, "verdict": "incorrect", "note": "she takes no side\non anything"}
    summary_id = _stored(whitlock, lyle, chen)

    assert _export(tmp_path / "drafts") == 0
    assert "1 reviewed brief: 1 draft case(s)" in capsys.readouterr().out

    [draft] = load_cases(tmp_path / "drafts")
    assert draft.id == summary_id and draft.tags == ["feedback-draft"]
    assert draft.article == CASE.article  # text, title, source and language, unchanged
    lyle_stance = lyle.get("corrected", {}).get("stance", "oppose")
    gold = {(c.holder, c.stance.value) for c in draft.gold.claims}
    assert gold == {("Dana Whitlock", "support"), ("Gareth Lyle", lyle_stance)}
    # A later prompt version may name him as the article does elsewhere: still the same holder.
    lyle_names = next(c.aliases for c in draft.gold.claims if c.holder == "Gareth Lyle")
    assert lyle_names == ["Lyle", "Mr. Lyle"]
    cassette = cassettes.load(tmp_path / "drafts", PROMPT, summary_id)
    assert cassette.source == "recorded" and cassette.prompt == PROMPT

    report = _eval(tmp_path / "drafts", tmp_path / "report")
    [v2] = [r for r in report["rows"] if r["name"] == PROMPT]
    [scored] = v2["cases"]
    assert scored["source"] == "recorded" and scored["ok"], scored["error"]
    # The replayed answer is the stored one: three claims, two of them in the gold.
    assert (scored["predicted"], scored["gold"]) == (3, 2)
    assert (scored["matched"], scored["stance_errors"]) == (matched, stance_errors)
    assert "gate: skipped" in capsys.readouterr().out


def test_the_draft_names_what_it_left_out(tmp_path: Path) -> None:
    _stored(
        {"claim": 0, "verdict": "correct"},
        {"claim": 2, "verdict": "incorrect", "note": "two\nlines"},
        {"field": "headline", "verdict": "incorrect", "corrected": {"headline": "Cedar St shut"}},
    )
    assert _export(tmp_path) == 0
    [path] = (tmp_path / "cases").glob("*.yaml")
    text = path.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert header[0].startswith("# DRAFT from reviewer feedback on stored brief ")
    assert "# - claim 1 (Gareth Lyle, oppose) not reviewed" in header
    assert "# - claim 2 (Maya Chen, neutral) marked incorrect, no correction" in header
    assert '# - headline marked incorrect; corrected: {"headline": "Cedar St shut"}' in header
    assert yaml.safe_load(text)["tags"] == ["feedback-draft"]  # the comments are only comments


def test_an_existing_draft_is_kept_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary_id = _stored({"claim": 0, "verdict": "correct"})
    assert _export(tmp_path) == 0
    case_path = tmp_path / "cases" / f"{summary_id}.yaml"
    case_path.write_text("# an editor's changes\n" + case_path.read_text())
    capsys.readouterr()

    assert _export(tmp_path) == 0
    out, err = capsys.readouterr()
    assert f"skipped {summary_id}: {case_path} exists (--force replaces it)" in err
    assert "0 draft case(s)" in out
    assert case_path.read_text().startswith("# an editor's changes")

    assert _export(tmp_path, "--force") == 0
    assert case_path.read_text().startswith("# DRAFT")


def test_briefs_reviewed_before_since_are_not_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _stored({"claim": 0, "verdict": "correct"})
    assert _export(tmp_path, "--since", "2999-01-01") == 0
    assert "0 reviewed briefs" in capsys.readouterr().out
    assert _export(tmp_path, "--since", "2020-01-01T00:00:00+02:00") == 0
    assert "1 reviewed brief:" in capsys.readouterr().out


def test_a_brief_without_a_model_answer_gets_a_case_and_no_cassette(tmp_path: Path) -> None:
    summary_id = _stored({"claim": 0, "verdict": "correct"}, upstream_text=None)
    assert _export(tmp_path) == 0
    assert (tmp_path / "cases" / f"{summary_id}.yaml").is_file()
    assert not (tmp_path / "cassettes").exists()


def test_a_brief_with_no_accepted_claim_is_skipped_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary_id = _stored({"claim": 1, "verdict": "incorrect"})
    assert _export(tmp_path) == 0
    assert f"skipped {summary_id}: no claim marked correct or corrected" in capsys.readouterr().err
    assert not (tmp_path / "cases").exists()


def test_the_article_text_round_trips_exactly_through_the_yaml(tmp_path: Path) -> None:
    # Offsets index into the text: trailing spaces, blank lines and the final newline must survive.
    text = CASE.article.text.rstrip("\n") + "  \n\n\n\tLast line, no newline"
    article = CASE.article.model_copy(update={"text": text, "language": "en-GB"})
    brief = CASE.model_copy(update={"article": article})
    summary_id = _stored({"claim": 0, "verdict": "correct"}, case=brief)
    assert _export(tmp_path) == 0
    [draft] = load_cases(tmp_path)
    assert draft.id == summary_id
    assert draft.article.text == text
    assert draft.gold.language == "en"


@pytest.mark.parametrize(
    ("text", "start", "end", "expected"),
    [
        pytest.param("One said yes. Two said no.", 4, 13, "said yes.", id="once: kept"),
        pytest.param(
            "Ann: we agree fully. Bob: we agree fully, he said.",
            26,
            40,
            "Bob: we agree fully,",
            id="twice: widened to the one meant",
        ),
        pytest.param("we agree fully we agree fully", 0, 14, "we agree fully we",
                     id="at the start: widened to the right"),
    ],
)  # fmt: skip
def test_unique_passage(text: str, start: int, end: int, expected: str) -> None:
    assert unique_passage(text, start, end) == expected


TWO_MARSHES = (
    "Senator Ana Marsh backed the cap. Councillor Tom Marsh, her brother, did not. "
    "“It is overdue,” Ms. Marsh said. Harbour master Ewan Castell stayed out of it."
)


@pytest.mark.parametrize(
    ("holder", "role", "expected"),
    [
        pytest.param("Ana Marsh", "Senator", ["Senator Ana Marsh"], id="shared surname"),
        pytest.param("Senator Ana Marsh", None, ["Ana Marsh"], id="titled holder"),
        pytest.param("Ewan Castell", None, ["Castell"], id="unique surname: alone too"),
        pytest.param("Dai Pritchard", None, [], id="not in the article: none"),
    ],
)  # fmt: skip
def test_aliases_are_the_names_the_article_uses(
    holder: str, role: str | None, expected: list[str]
) -> None:
    people = analyse(TWO_MARSHES).people
    assert aliases(TWO_MARSHES, people, holder, role) == expected


def test_a_unique_surname_gets_its_title_and_honorific_forms() -> None:
    text = "Councillor Dana Whitlock pushed for it. “At last,” Ms. Whitlock said."
    got = aliases(text, analyse(text).people, "Dana Whitlock", "Councillor")
    assert got == ["Councillor Dana Whitlock", "Councillor Whitlock", "Ms. Whitlock", "Whitlock"]


def test_eval_dir_without_cases_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["eval", "--evals-dir", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"newsbrief: {tmp_path} has no cases/ folder: an evals folder holds cases/<id>.yaml"
    ]


def test_bad_since_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "export", "--out", "x", "--since", "last week"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "newsbrief: --since 'last week': not a date (YYYY-MM-DD or ISO 8601 time)"
    ]
    assert not out and not Path("x").exists()


def test_an_empty_store_exports_nothing_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(tmp_path / "out") == 0
    assert capsys.readouterr().out.startswith("0 reviewed briefs")
    assert not (tmp_path / "out").exists()


def test_export_runs_without_the_dev_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    summary_id = _stored({"claim": 0, "verdict": "correct"})
    # What a wheel or the image has: the service without the newsbrief_dev package beside it.
    for name in [m for m in sys.modules if m.startswith("newsbrief_dev")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "newsbrief_dev", None)
    monkeypatch.delitem(sys.modules, "service.feedback_export")  # imported afresh, without them
    assert _export(tmp_path) == 0
    assert (tmp_path / "cases" / f"{summary_id}.yaml").is_file()
    assert (tmp_path / "cassettes" / PROMPT / f"{summary_id}.json").is_file()


def test_an_unreachable_store_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.settings import get_settings
    from tests.support import free_port

    url = f"postgresql://editor:pw-canary-83a1@127.0.0.1:{free_port()}/newsbrief"  # nobody there
    monkeypatch.setenv("NEWSBRIEF_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert _export(tmp_path) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("newsbrief: the store cannot be reached")
    assert "pw-canary-83a1" not in err and not (tmp_path / "cases").exists()
