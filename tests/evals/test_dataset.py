"""Gold that contradicts its own article, or itself, does not load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from newsbrief_dev.evals.dataset import Case, load_cases
from service.errors import DatasetError

EVALS = Path(__file__).resolve().parents[2] / "evals"


def _raw(case_id: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EVALS / "cases" / f"{case_id}.yaml").read_text())
    return loaded


def test_the_gold_names_both_marshes_apart() -> None:
    case = Case.model_validate(_raw("same-surname"))
    assert "Councillor Marsh" in case.gold.names_of("Tom Marsh")
    assert "Councillor Marsh" not in case.gold.names_of("Ana Marsh")


def _quotes_give_away_the_evidence(raw: dict[str, Any]) -> None:
    # Tom Marsh's words, and nothing else, given to his sister
    for q in raw["gold"]["quotes"]:
        if q["speaker"] == "Tom Marsh":
            q["speaker"] = "Ana Marsh"


def _quote_not_in_article(raw: dict[str, Any]) -> None:
    raw["gold"]["quotes"][0]["text"] = "We have a generation that cannot afford to buy"


def _evidence_without_position(raw: dict[str, Any]) -> None:
    for q in raw["gold"]["quotes"]:
        q["position"] = False


def _ambiguous_quote(raw: dict[str, Any]) -> None:
    raw["gold"]["quotes"].append({"speaker": "Ana Marsh", "text": "the bill"})


def _forbidden_not_planted(raw: dict[str, Any]) -> None:
    raw["gold"]["forbidden"] = [["never in the article", "nor this"]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_quotes_give_away_the_evidence, "in no passage quotes: gives to them"),
        (_quote_not_in_article, "gold quote not in the article"),
        (_evidence_without_position, "in no passage quotes: gives to them"),
        (_forbidden_not_planted, "not planted in the article"),
        (_ambiguous_quote, "occurs twice"),
    ],
)
def test_inconsistent_gold_does_not_load(
    edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    raw = _raw("same-surname")
    Case.model_validate(raw)  # as it stands, it loads
    edit(raw)
    with pytest.raises(ValidationError, match=message):
        Case.model_validate(raw)


def test_only_a_feedback_draft_may_leave_out_topic_language_and_key_facts() -> None:
    raw = _raw("council-vote")
    del raw["topic"], raw["gold"]["language"]
    raw["gold"]["key_facts"] = []
    with pytest.raises(ValidationError, match="may leave out topic, language, key_facts"):
        Case.model_validate(raw)
    draft = Case.model_validate(raw | {"tags": ["feedback-draft"]})
    assert (draft.topic, draft.gold.language, draft.gold.key_facts) == (None, None, [])


@pytest.mark.parametrize(
    ("folders", "says"),
    [
        pytest.param([], "has no cases/ folder", id="no cases folder"),
        pytest.param(["cases"], "holds no case files", id="an empty one"),
    ],
)
def test_an_evals_folder_without_cases_says_so(
    tmp_path: Path, folders: list[str], says: str
) -> None:
    for name in folders:
        (tmp_path / name).mkdir()
    with pytest.raises(DatasetError, match=says):
        load_cases(tmp_path)
