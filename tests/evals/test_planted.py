"""The planted-error suite: each kind of error raises its own metric, clean answers raise none."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from newsbrief_dev.evals import cassettes
from newsbrief_dev.evals.metrics import score_case
from newsbrief_dev.evals.planted import (
    FLAGGED_BY,
    MISATTRIBUTION_KINDS,
    Plant,
    PlantResult,
    load_plants,
    run_planted,
)
from newsbrief_dev.evals.runner import replay_case
from service.cli import _registry, main
from service.errors import DatasetError
from service.schemas import SummaryResponse
from service.settings import Settings

pytestmark = pytest.mark.slow  # loads, replays and scores whole eval cases: seconds
EVALS = Path(__file__).resolve().parents[2] / "evals"

# The table the issue asks for, written out here so a change to it is a visible change to a test.
TABLE = {
    "fabricated-quote": "fabrications_first_pass",
    "one-word-changed": "fabrications_first_pass",
    "ellipsis": "fabrications_first_pass",
    "quote-to-wrong-person": "misattributions",
    "swapped-speakers": "misattributions",
    "nested-quote-to-inner-speaker": "misattributions",
    "irrelevant-evidence": "unsupported_evidence",
    "wrong-stance": "stance_errors",
    "phantom-claims": "phantom_claims",
    "unsupported-number": "unsupported_numbers",
    "injection-obeyed-by-paraphrase": "injection_containment",
}


def _settings() -> Settings:
    return Settings().model_copy(
        update={"llm_api_key": None, "llm_base_url": None, "request_deadline_s": 60.0}
    )


def _run(root: Path = EVALS) -> list[PlantResult]:
    settings = _settings()
    return asyncio.run(run_planted(root, _registry(settings), settings))


@pytest.fixture(scope="module")
def results() -> list[PlantResult]:
    return _run()


def test_the_suite_plants_every_kind_once_beside_clean_controls() -> None:
    assert FLAGGED_BY == TABLE
    kinds = [p.plant.kind for p in load_plants(EVALS)]
    assert sorted(k for k in kinds if k != "clean") == sorted(TABLE)
    assert kinds.count("clean") >= 3
    assert all(p.cassette.source == "hand-written" for p in load_plants(EVALS))


def test_each_planted_kind_raises_its_metric_and_nothing_else(results: list[PlantResult]) -> None:
    table = {r.plant.kind: r.raised for r in results if r.plant.kind != "clean"}
    assert table == {kind: [metric] for kind, metric in TABLE.items()}


def test_clean_controls_raise_nothing_and_score_perfectly(results: list[PlantResult]) -> None:
    clean = [r for r in results if r.plant.kind == "clean"]
    assert clean and all(r.raised == [] for r in clean)
    for r in clean:
        s = r.score
        assert (s.matched, s.predicted, s.facts_covered) == (s.gold, s.gold, s.facts_total)
        assert s.language_ok and s.llm_calls == 1


def test_every_planted_misattribution_is_counted(results: list[PlantResult]) -> None:
    for r in results:
        if r.plant.kind in MISATTRIBUTION_KINDS:
            assert r.score.misattributions == len(r.plant.faulty), r.plant.cassette


def test_a_misattribution_the_pipeline_drops_still_counts() -> None:
    # What the serve-time attribution check will do: return the answer without the faulty claim.
    settings = _settings()
    registry = _registry(settings)
    for p in load_plants(EVALS):
        if p.plant.kind not in MISATTRIBUTION_KINDS:
            continue
        done = asyncio.run(replay_case(p.case, p.cassette, registry, settings))
        assert done.response is not None
        faulty = {f.holder for f in p.plant.faulty}
        dropped = done.response.model_copy(
            update={"claims": [c for c in done.response.claims if c.holder not in faulty]}
        )
        answers = [a for e in done.served if (a := cassettes.answer(e)) is not None]
        assert score_case(p.case, dropped, answers).misattributions == len(p.plant.faulty)
        assert score_case(p.case, dropped).misattributions == 0  # what the old count saw


@pytest.fixture
def evals(tmp_path: Path) -> Path:
    shutil.copytree(EVALS, tmp_path / "evals")
    return tmp_path / "evals"


def _manifest(evals: Path) -> list[dict[str, object]]:
    loaded: list[dict[str, object]] = yaml.safe_load((evals / "planted/plants.yaml").read_text())
    return loaded


def test_a_broken_clean_control_fails_the_eval(evals: Path, tmp_path: Path) -> None:
    path = evals / "planted/cassettes/clean-drought-fund.json"
    cassette = json.loads(path.read_text())
    message = cassette["responses"][0]["body"]["choices"][0]["message"]
    answer = json.loads(message["content"])
    answer["claims"][0]["holder"] = "Marcus Oyelaran"  # Brandt's words, given to her opponent
    message["content"] = json.dumps(answer, ensure_ascii=False)
    path.write_text(json.dumps(cassette, ensure_ascii=False))
    assert main(["eval", "--evals-dir", str(evals), "--out", str(tmp_path / "out")]) == 1
    report = json.loads((tmp_path / "out/report.json").read_text())
    [row] = [p for p in report["planted"]["plants"] if p["cassette"] == "clean-drought-fund"]
    assert row["raised"] == ["misattributions"] and not row["ok"]
    assert not report["gate"]["passed"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m[0].update(kind="mislabelled"), "unknown kind"),
        (lambda m: m[0].update(faulty=[{"holder": "A", "evidence": "b"}]), "clean control"),
        (lambda m: m[5].update(faulty=[{"holder": "A", "evidence": "b"}]), "no answer gives A"),
    ],
)
def test_the_manifest_is_checked(
    evals: Path, edit: Callable[[list[dict[str, object]]], object], message: str
) -> None:
    manifest = _manifest(evals)
    edit(manifest)
    (evals / "planted/plants.yaml").write_text(yaml.safe_dump(manifest, allow_unicode=True))
    with pytest.raises(DatasetError, match=message):
        load_plants(evals)


def _final_answers(want: Callable[[str], bool]) -> list[tuple[Plant, SummaryResponse]]:
    """Each selected plant replayed through the real pipeline: what a client would get."""
    settings = _settings()
    registry = _registry(settings)
    out = []
    for p in load_plants(EVALS):
        if want(p.plant.kind):
            done = asyncio.run(replay_case(p.case, p.cassette, registry, settings))
            assert done.response is not None, p.plant.cassette
            out.append((p.plant, done.response))
    return out


def test_serve_time_never_returns_a_planted_misattribution_as_verified() -> None:
    answers = _final_answers(lambda kind: kind in MISATTRIBUTION_KINDS)
    assert len(answers) == len(MISATTRIBUTION_KINDS)
    for plant, response in answers:
        for f in plant.faulty:
            returned = [
                c for c in response.claims if c.holder == f.holder and f.evidence in c.evidence.text
            ]
            assert all(c.attribution_check.status != "verified" for c in returned), plant.cassette
            dropped = [w for w in response.warnings if w.code == "claim_dropped_misattributed"]
            assert returned or any(f.holder in w.detail for w in dropped), plant.cassette


def test_serve_time_verifies_the_clean_controls() -> None:
    answers = _final_answers(lambda kind: kind == "clean")
    claims = [c for _, response in answers for c in response.claims]
    verified = [c for c in claims if c.attribution_check.status == "verified"]
    assert claims and len(verified) >= 0.9 * len(claims)
    for plant, response in answers:
        codes = [w.code for w in response.warnings]
        assert not [c for c in codes if c.startswith("claim_dropped")], plant.cassette
