"""The no-LLM engine: lead sentences, and direct quotes with the speaker the article names."""

from __future__ import annotations

import pytest

from service.extractive import brief, sentences
from service.pipeline import hold, select_claims
from service.schemas import ArticleIn, Options
from tests.conftest import ARTICLES


def claims_of(name: str) -> tuple[str, list[tuple[str, str | None, str]]]:
    text = (ARTICLES / name).read_text(encoding="utf-8")
    out = brief(ArticleIn(text=text), Options(max_claims=50))
    grounded, dropped = select_claims(hold(out, text), text, Options(max_claims=50))
    assert dropped == []  # the engine only ever quotes the article
    for c in grounded:
        assert text[c.evidence.start : c.evidence.end] == c.evidence.text
        assert c.stance == "neutral" and c.attribution == "direct_quote" and c.target is None
        assert c.attribution_check.status == "verified"  # it reads speakers as the checker does
    return text, [(c.holder, c.holder_role, c.evidence.text) for c in grounded]


def test_curly_quotes_and_double_primes_with_several_speakers() -> None:
    _, found = claims_of("ferry-levy.txt")
    holders = [(h, r) for h, r, _ in found]
    assert holders == [
        ("Helen Okafor", "Mayor"),  # "called the vote “…”" after an appositive clause
        ("Helen Okafor", "Mayor"),  # "Ms. Okafor told reporters": resolved to the full name
        ("Helen Okafor", "Mayor"),  # an unattributed quote carrying on the same speaker
        ("Tomas Reyes", None),  # ″…″ double primes as quote marks, "said Tomas Reyes"
        ("Priya Natarajan", "Councillor"),  # "she said", named earlier in the same paragraph
        ("Dai Pritchard", None),
    ]
    assert found[3][2].startswith("″We will pass the cost on")
    assert all("“on fair terms”" not in ev for _, _, ev in found)  # too short to be a position


def test_nested_quotes_pronouns_and_unnamed_speakers() -> None:
    _, found = claims_of("school-merger.txt")
    assert [(h, r) for h, r, _ in found] == [
        ("Ruth Amsel", None),
        ("Marcus Bell", None),
        ("Joan Whitfield", None),
    ]
    assert "‘efficiencies’" in found[2][2]  # the quote inside the quote stays whole
    # "She said only that “the figures …”" follows an unnamed officer: no one is credited.
    assert all("speak for themselves" not in ev for _, _, ev in found)


def test_an_article_without_quotes_has_no_claims() -> None:
    text = "The bridge reopened on Friday after repairs. Traffic was light. Tolls are unchanged."
    out = brief(ArticleIn(text=text), Options())
    assert out.claims == []
    assert out.summary.lede == "The bridge reopened on Friday after repairs."


def test_summary_is_lead_sentences_and_the_title_when_given() -> None:
    text = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
    out = brief(ArticleIn(text=text, title="Ferry levy passes"), Options(max_bullets=2))
    assert out.summary.headline == "Ferry levy passes"
    assert out.summary.lede.startswith("Councillors in the coastal town of Port Aldine voted 7–4")
    assert len(out.summary.bullets) == 2
    assert out.summary.bullets[0].startswith("The levy, which takes effect on 1 March")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "Mr. Reyes spoke. Then he left.", ["Mr. Reyes spoke.", "Then he left."], id="honorific"
        ),
        pytest.param(
            "It cost $1.5 million. Fine.", ["It cost $1.5 million.", "Fine."], id="decimal"
        ),
        pytest.param("“Go,” she said. He went.", ["“Go,” she said.", "He went."], id="quote-comma"),
        pytest.param(
            "He said “Stop.” Then left.", ["He said “Stop.”", "Then left."], id="close-quote"
        ),
        pytest.param("A. B. Smith won.", ["A. B. Smith won."], id="initials"),
        pytest.param("One\n\nTwo", ["One", "Two"], id="paragraphs"),
    ],
)
def test_sentence_split(text: str, expected: list[str]) -> None:
    found = sentences(text)
    assert [s.text for s in found] == expected
    assert all(text[s.start : s.end] == s.text for s in found)
