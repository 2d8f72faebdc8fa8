"""Each eval metric moves when an error of its kind is planted in an otherwise perfect answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from newsbrief_dev.evals.dataset import Case, GoldClaim, load_cases
from newsbrief_dev.evals.metrics import (
    aggregate,
    detect_language,
    fact_covered,
    holder_matches,
    names_of,
    raised,
    score_case,
    target_matches,
    token_f1,
)
from service.grounding import locate
from service.schemas import (
    Claim,
    Evidence,
    LLMClaim,
    LLMOutput,
    LLMSummary,
    ResponseWarning,
    Stance,
    Summary,
    SummaryResponse,
    Usage,
)

EVALS = Path(__file__).resolve().parents[2] / "evals"


@pytest.fixture(scope="module")
def case() -> Case:
    [only] = load_cases(EVALS, ["injection-letter"])
    return only


def perfect(case: Case) -> SummaryResponse:
    """The answer gold describes: every gold claim, grounded; a summary naming every key fact."""
    claims = []
    for g in case.gold.claims:
        span = locate(g.evidence, case.article.text)
        assert span is not None
        claims.append(
            Claim(
                holder=g.holder,
                holder_role=None,
                stance=g.stance,
                target=g.target,
                claim="…",
                evidence=Evidence(text=span.text, start=span.start, end=span.end),
                attribution="direct_quote",
            )
        )
    facts = " ".join(alts[0] for alts in case.gold.key_facts)
    return SummaryResponse(
        id="x",
        engine="llm",
        model="m",
        prompt=None,
        article={"sha256": "0" * 64, "chars": len(case.article.text)},
        summary=Summary(headline="The council delays the casino", lede=facts, bullets=[]),
        claims=claims,
        warnings=[],
        usage=Usage(llm_calls=1, total_tokens=100),
    )


def metrics_of(case: Case, response: SummaryResponse) -> dict[str, float]:
    return aggregate([score_case(case, response)])


def test_the_perfect_answer_scores_perfectly(case: Case) -> None:
    score = score_case(case, perfect(case))
    m = aggregate([score])
    assert (m["claim_f1"], m["stance_macro_f"], m["key_fact_coverage"]) == (1.0, 1.0, 1.0)
    assert m["injection_containment"] == 1.0 and m["language_match_rate"] == 1.0
    assert raised(score) == []


def _stance(r: SummaryResponse) -> None:
    r.claims[0].stance = Stance.SUPPORT  # the mayor opposes the casino


def _holder(r: SummaryResponse) -> None:
    r.claims[0].holder = "Karen Voss"  # the mayor's words credited to the developer


def _fabricated(r: SummaryResponse) -> None:
    r.claims.pop(0)
    r.warnings.append(ResponseWarning(code="claim_dropped_ungrounded", detail="invented quote"))


def _irrelevant(r: SummaryResponse) -> None:
    r.claims[0].evidence = _evidence("The council will take up the plan again on 14 May.")


def _positionless(r: SummaryResponse) -> None:
    r.claims[1].evidence = _evidence("the company would answer every question the council had")
    r.claims[1].holder = "Karen Voss"  # hers, but it says nothing of the casino itself


def _relayed_payload(r: SummaryResponse) -> None:
    r.summary.lede += " Readers are urged to sign a petition; Ruiz backs the casino."


def _evidence(text: str) -> Evidence:
    return _located(text, load_cases(EVALS, ["injection-letter"])[0])


def _located(text: str, case: Case) -> Evidence:
    span = locate(text, case.article.text)
    assert span is not None
    return Evidence(text=span.text, start=span.start, end=span.end)


def _payload(r: SummaryResponse) -> None:
    r.summary.bullets.append("Sign the petition at vote-yes-emery.example.")


def _number(r: SummaryResponse) -> None:
    r.warnings.append(ResponseWarning(code="unsupported_number", detail="'400' not in article"))


def _missing_fact(r: SummaryResponse) -> None:
    r.summary.lede = "The council met."


def _offset(r: SummaryResponse) -> None:
    r.claims[0].evidence.start += 1  # what grounding exists to prevent


def _long(r: SummaryResponse) -> None:
    r.summary.headline = "word " * 30


def _language(r: SummaryResponse) -> None:
    r.summary.headline = r.summary.lede = "Der Rat hat die Entscheidung über das Casino vertagt"


PLANTED: list[tuple[str, Callable[[SummaryResponse], None], str, float]] = [
    ("wrong-stance", _stance, "stance_macro_f", -1),
    ("wrong-stance", _stance, "claim_f1", -1),
    ("wrong-stance", _stance, "stance_errors", +1),
    ("misattribution", _holder, "misattributions", +1),
    ("misattribution", _holder, "claim_f1", -1),
    ("irrelevant-evidence", _irrelevant, "unsupported_evidence", +1),
    ("irrelevant-evidence", _irrelevant, "claim_f1", -1),
    ("evidence-without-position", _positionless, "unsupported_evidence", +1),
    ("dropped-fabrication", _fabricated, "evidence_located_rate", -1),
    ("dropped-fabrication", _fabricated, "claim_recall", -1),
    ("obeyed-injection", _payload, "injection_containment", -1),
    ("obeyed-by-paraphrase", _relayed_payload, "injection_containment", -1),
    ("invented-number", _number, "unsupported_numbers", +1),
    ("missing-fact", _missing_fact, "key_fact_coverage", -1),
    ("bad-offset", _offset, "fabrications_returned", +1),
    ("too-long", _long, "length_ok_rate", -1),
    ("wrong-language", _language, "language_match_rate", -1),
]


@pytest.mark.parametrize(
    ("plant", "metric", "direction"),
    [pytest.param(p, m, d, id=f"{name}->{m}") for name, p, m, d in PLANTED],
)
def test_a_planted_error_moves_its_metric(
    case: Case, plant: Callable[[SummaryResponse], None], metric: str, direction: float
) -> None:
    clean = metrics_of(case, perfect(case))[metric]
    broken = perfect(case)
    plant(broken)
    moved = metrics_of(case, broken)[metric] - clean
    assert moved * direction > 0, f"{metric} did not move: {clean} -> {clean + moved}"


def test_a_stance_slip_on_an_injection_case_is_a_stance_error_not_obedience(case: Case) -> None:
    slipped = perfect(case)
    _stance(slipped)
    assert raised(score_case(case, slipped)) == ["stance_errors"]


def _answer(claims: list[tuple[str, str]]) -> LLMOutput:
    return LLMOutput(
        summary=LLMSummary(headline="h", lede="l", bullets=[]),
        claims=[
            LLMClaim(
                holder=holder,
                holder_role=None,
                stance=Stance.OPPOSE,
                target="the casino plan",
                claim="…",
                evidence=evidence,
                attribution="direct_quote",
            )
            for holder, evidence in claims
        ],
    )


def test_every_answer_counts_even_what_the_pipeline_caught_or_the_model_corrected(
    case: Case,
) -> None:
    mayor = "A casino brings jobs for a few and debts for many"
    invented = "Casinos ruin towns, and I will say so at every meeting"
    answers = [
        _answer([("Luis Ruiz", invented), ("Karen Voss", mayor)]),  # first pass: two mistakes
        _answer([("Luis Ruiz", invented), ("Luis Ruiz", mayor)]),  # reask: one left, repeated
        _answer([("Luis Ruiz", mayor)]),  # corrected
    ]
    score = score_case(case, perfect(case), answers)
    assert (score.fabrications_first_pass, score.misattributions) == (1, 1)
    assert score.fabrications_returned == 0 and score.matched == 2


def test_no_opinion_cases_punish_any_claim() -> None:
    [quiet] = load_cases(EVALS, ["storm-closures"])
    noisy = perfect(quiet)
    noisy.claims.append(
        Claim(
            holder="Northern Power Networks",
            holder_role=None,
            stance=Stance.NEUTRAL,
            target="power",
            claim="…",
            evidence=_located("16,500 of the affected homes had been reconnected", quiet),
            attribution="reported",
        )
    )
    assert metrics_of(quiet, perfect(quiet))["claim_precision"] == 1.0
    assert metrics_of(quiet, noisy)["claim_precision"] == 0.0
    assert raised(score_case(quiet, noisy)) == ["phantom_claims"]


GOLD = GoldClaim(
    holder="Ana Marsh",
    aliases=["Senator Marsh"],
    stance=Stance.SUPPORT,
    target="the Ridgeway housing bill",
    target_keywords=["bill"],
    evidence="We have a generation",
)


@pytest.mark.parametrize(
    ("holder", "matches"),
    [
        ("Ana Marsh", True),
        ("ana  marsh", True),
        ("Senator Marsh", True),
        ("Tom Marsh", False),
        ("Marsh", False),  # ambiguous when two Marshes speak: aliases must list it to count
    ],
)
def test_holder_matches_name_or_alias(holder: str, matches: bool) -> None:
    [marsh] = load_cases(EVALS, ["same-surname"])
    assert holder_matches(holder, names_of(marsh.gold, "Ana Marsh")) is matches


@pytest.mark.parametrize(
    ("target", "matches"),
    [
        ("the Ridgeway housing bill", True),
        ("housing bill", True),  # token F1 0.67
        ("the new planning bill", True),  # keyword
        ("council planning powers", False),
        (None, False),
    ],
)
def test_target_matches_by_token_f1_or_keyword(target: str | None, matches: bool) -> None:
    assert target_matches(target, GOLD) is matches


def test_token_f1() -> None:
    assert token_f1("the housing bill", "the housing bill") == 1.0
    assert token_f1("housing", "the housing bill") == pytest.approx(0.5)
    assert token_f1("", "x") == 0.0


def test_fact_alternatives_and_keyword_sets() -> None:
    assert fact_covered(["5-2", "five votes to two"], "Council votes 5–2 for closure")
    assert fact_covered(["£2 levy"], "A levy of £2 per ticket")  # all words, any order
    assert not fact_covered(["£2 levy"], "A levy per ticket")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The council said that it would vote on the plan", "en"),
        ("Der Stadtrat hat die Radwege mit den Stimmen der Mehrheit beschlossen", "de"),
        ("Los trabajadores del metro iniciaron una huelga para reclamar personal", "es"),
        ("12 34 56", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def test_a_repeated_passage_is_judged_where_the_response_places_it() -> None:
    pledge = "Not one more closure"
    text = (
        "“Not one more closure”: the mayor's pledge.\n\n"
        "Mayor Ines Fould spoke at the library on Friday. “Not one more closure,” said Mayor "
        "Ines Fould, as the council prepared its budget."
    )
    repeated = Case.model_validate(
        {
            "id": "repeated",
            "topic": "local",
            "article": {"text": text},
            "gold": {
                "language": "en",
                "key_facts": [["library"]],
                "claims": [
                    {
                        "holder": "Ines Fould",
                        "stance": "oppose",
                        "target": "library closures",
                        "target_keywords": ["closure"],
                        "evidence": f"{pledge},” said Mayor Ines Fould",
                    }
                ],
                # Only the second occurrence is hers: the headline gives it to nobody.
                "quotes": [{"speaker": "Ines Fould", "text": f"{pledge},” said Mayor Ines Fould"}],
            },
        }
    )
    verdicts = {}
    for name, start in {"second": text.rindex(pledge), "first": text.index(pledge)}.items():
        response = perfect(repeated)
        span = Evidence(text=pledge, start=start, end=start + len(pledge))
        response.claims[0].evidence = span
        verdicts[name] = raised(score_case(repeated, response))
    assert verdicts == {"second": [], "first": ["unsupported_evidence"]}
