"""The HTML report: a template with autoescape, so outside text is shown, never run."""

from __future__ import annotations

from pathlib import Path

from newsbrief_dev.evals.dataset import load_cases
from newsbrief_dev.evals.metrics import failed_case
from newsbrief_dev.evals.report import html_report
from newsbrief_dev.evals.runner import Row

EVALS = Path(__file__).resolve().parents[2] / "evals"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_article_text_gold_and_errors_are_escaped() -> None:
    [case] = load_cases(EVALS, ["council-vote"])
    case = case.model_copy(update={"id": HOSTILE})
    row = Row(name=f"row {HOSTILE}", scores=[failed_case(case, f"upstream said {HOSTILE}")])
    meta = {"cases": 1, "mode": "replay", "generated_at": "now", "default_prompt": "x"}
    page = html_report([row], [case], [], meta)
    assert "<script" not in page and "<img" not in page
    assert page.count("&lt;script&gt;") >= 3  # shown as text: case id, row name, error
