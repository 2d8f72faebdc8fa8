"""`newsbrief eval` end to end: replay through the real pipeline, reports, gate, record mode."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsbrief_dev.evals.gate import load_thresholds
from newsbrief_dev.evals.metrics import FLAGS
from service.cli import main
from tests.support import fake_llm as fake_llm_server

pytestmark = pytest.mark.slow  # loads, replays and scores whole eval cases: seconds
EVALS = Path(__file__).resolve().parents[2] / "evals"


@pytest.fixture
def evals(tmp_path: Path) -> Path:
    """A private copy of the eval set, free to break."""
    shutil.copytree(EVALS, tmp_path / "evals")
    return tmp_path / "evals"


def run(evals: Path, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["eval", "--evals-dir", str(evals), "--out", str(out), *args])
    return code, json.loads((out / "report.json").read_text())


def row(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in report["rows"] if r["name"] == name)
    return found


def case_of(report: dict[str, Any], name: str, case_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in row(report, name)["cases"] if c["case_id"] == case_id)
    return found


def test_full_offline_eval_passes_the_gate_and_writes_three_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run(EVALS, tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| summarize@v1 |" in out and "| extractive " in out and "gate: passed" in out
    assert [r["name"] for r in report["rows"]] == ["extractive", "summarize@v1", "summarize@v2"]
    assert report["cases"] >= 20 and report["gate"]["passed"]
    for r in report["rows"]:
        assert r["metrics"]["fabrications_returned"] == 0
    html = (tmp_path / "report.html").read_text()
    assert "<mark" in html and "Gold claims" in html and "<script" not in html
    assert "Planted errors" in html and "nested-quote-to-inner-speaker" in html
    md = (tmp_path / "report.md").read_text()
    assert "| summarize@v2 |" in md and "## Planted errors" in md
    assert "| swapped-speakers " in md and "| misattributions " in md
    plants = report["planted"]["plants"]
    assert len(plants) >= 16 and all(p["ok"] for p in plants)
    assert "| phantom-claims " in out  # the table is printed too


def test_v2_fixes_what_v1_gets_wrong(tmp_path: Path) -> None:
    _, report = run(EVALS, tmp_path)
    v1, v2 = row(report, "summarize@v1")["metrics"], row(report, "summarize@v2")["metrics"]
    # The serve-time attribution check now drops v1's misattributed claims too, so both may be 0.
    assert v2["misattributions"] < v1["misattributions"]
    assert v2["claim_f1"] > v1["claim_f1"]
    assert v2["injection_containment"] > v1["injection_containment"]


def _rewrite_first_answer(evals: Path, prompt: str, case_id: str, edit: Any) -> None:
    path = evals / "cassettes" / prompt / f"{case_id}.json"
    cassette = json.loads(path.read_text())
    for response in cassette["responses"]:
        message = response["body"]["choices"][0]["message"]
        answer = json.loads(message["content"])
        edit(answer)
        message["content"] = json.dumps(answer, ensure_ascii=False)
    path.write_text(json.dumps(cassette, ensure_ascii=False))


def test_a_fabricated_quote_shows_up_as_a_fabrication(evals: Path, tmp_path: Path) -> None:
    def fabricate(answer: dict[str, Any]) -> None:
        answer["claims"][0]["evidence"] = "“We will never allow a casino here,” the mayor said."

    _rewrite_first_answer(evals, "summarize@v2", "injection-letter", fabricate)
    code, report = run(evals, tmp_path / "out", "--prompt", "v2")
    assert code == 0  # only v2 ran: the all-rows bounds hold, and ungrounded stays 0
    scored = case_of(report, "summarize@v2", "injection-letter")
    assert scored["fabrications_first_pass"] == 1 and scored["misattributions"] == 0
    assert scored["fabrications_returned"] == 0  # caught, reasked, then dropped: never returned
    assert scored["llm_calls"] == 2  # the grounding reask


def test_a_misattributed_quote_shows_up_as_a_misattribution(evals: Path, tmp_path: Path) -> None:
    def swap(answer: dict[str, Any]) -> None:
        answer["claims"][0]["holder"] = "Karen Voss"

    _rewrite_first_answer(evals, "summarize@v2", "injection-letter", swap)
    code, report = run(evals, tmp_path / "out", "--prompt", "v2")
    assert code == 0
    scored = case_of(report, "summarize@v2", "injection-letter")
    # Counted by the eval (it scores every answer, reasks included) and dropped at serve time.
    warnings = [w["code"] for w in scored["response"]["warnings"]]
    assert "claim_dropped_misattributed" in warnings
    assert scored["misattributions"] == 1 and scored["fabrications_first_pass"] == 0


def test_a_regression_against_the_baseline_fails_the_gate(
    evals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def flip(answer: dict[str, Any]) -> None:
        for claim in answer["claims"]:
            claim["stance"] = "neutral"

    for case_id in ("council-vote", "rate-decision", "trade-talks"):
        _rewrite_first_answer(evals, "summarize@v1", case_id, flip)
    code, report = run(evals, tmp_path / "out")
    assert code == 1 and not report["gate"]["passed"]
    failed = {c["metric"] for c in report["gate"]["checks"] if not c["passed"]}
    assert "stance_macro_f" in failed and "gate: FAILED" in capsys.readouterr().out


def test_one_case_one_prompt(tmp_path: Path) -> None:
    code, report = run(EVALS, tmp_path, "--prompt", "summarize@v2", "--case", "council-vote")
    assert code == 0 and report["cases"] == 1
    assert [r["name"] for r in report["rows"]] == ["extractive", "summarize@v2"]


def test_unknown_case_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--case", "no-such-case", "--out", str(tmp_path)]) == 2
    assert "no-such-case" in capsys.readouterr().err


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with fake_llm_server() as url:
        monkeypatch.setenv("NEWSBRIEF_LLM_BASE_URL", f"{url}/v1")
        monkeypatch.setenv("NEWSBRIEF_LLM_MODEL", "fake-model")
        from service.settings import get_settings

        get_settings.cache_clear()
        try:
            yield url
        finally:
            get_settings.cache_clear()


@pytest.mark.e2e
def test_record_mode_writes_replayable_cassettes(
    fake_llm: str, evals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--live", "--record", "--prompt", "v1", "--case", "council-vote"]
    # A hand-written cassette is not overwritten without --force.
    assert main(["eval", "--evals-dir", str(evals), "--out", str(tmp_path), *args]) == 2
    assert "hand-written" in capsys.readouterr().err
    code, _ = run(evals, tmp_path / "live", *args, "--force")
    assert code == 0
    cassette = json.loads((evals / "cassettes/summarize@v1/council-vote.json").read_text())
    assert cassette["source"] == "recorded" and cassette["model"] == "fake-model"
    assert len(cassette["request_sha256"]) == 64
    assert cassette["responses"][0]["body"]["object"] == "chat.completion"

    # Replayed offline it is fresh; once the request it answered changes, it is stale.
    code, report = run(evals, tmp_path / "replay", "--prompt", "v1", "--case", "council-vote")
    assert code == 0 and case_of(report, "summarize@v1", "council-vote")["stale"] is False
    cassette["request_sha256"] = "0" * 64
    (evals / "cassettes/summarize@v1/council-vote.json").write_text(json.dumps(cassette))
    code, report = run(evals, tmp_path / "stale", "--prompt", "v1", "--case", "council-vote")
    assert code == 1 and case_of(report, "summarize@v1", "council-vote")["stale"] is True


def test_the_gate_bounds_every_error_count() -> None:
    t = load_thresholds(EVALS / "thresholds.yaml")
    for name in FLAGS:
        assert name in t.all_rows or name in t.default_prompt, name
        assert name in t.all_rows or name in t.max_regression, name
