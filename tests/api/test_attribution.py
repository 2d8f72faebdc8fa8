"""Attribution at serve time: the article, not the model, says who spoke (LLM mocked by respx)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import respx
from fastapi.testclient import TestClient

from tests.conftest import brief_json, claim

Completion = Callable[..., dict[str, Any]]

HEARING = (
    "Senator Ada Brandt opened the hearing on the valley rail freight bill on Tuesday with a "
    "story from her tour of the orchards. “A farmer near Kessel told me, ‘We can grow anything "
    "here, but we cannot move it to market,’ and that is what this bill fixes,” said Senator "
    "Ada Brandt.\n\n"
    "Her brother, Tom Brandt, who runs the valley's largest haulage firm, has campaigned against "
    "the bill. “Rail freight will not reach the small farms any sooner,” Tom Brandt said.\n\n"
    "The valley's factories added 300 manufacturing jobs last year, most of them in packaging."
)
FARMER = "We can grow anything here, but we cannot move it to market"
BORDER = (
    "Secretary of State Lena Voss met President Omar Kell on Monday to discuss the border "
    "dispute. “It's not our war, and we will not send troops,” the secretary of state said "
    "outside the ministry afterwards.\n\nThe president's office did not comment."
)
NOT_OUR_WAR = "It's not our war, and we will not send troops"
PIER = (
    "“We will rebuild the pier by summer”\n\n"
    "PORT ELLIS — The storm-damaged pier will reopen in June, the town council promised on "
    "Wednesday. “We will rebuild the pier by summer,” said Mayor Lena Holt, standing beside "
    "the wreckage.\n\nBusiness owners on the seafront welcomed the news."
)


def post(client: TestClient, text: str, **options: Any) -> dict[str, Any]:
    response = client.post("/v1/summaries", json={"article": {"text": text}, "options": options})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    for c in body["claims"]:
        cue = c["attribution_check"]["cue"]
        assert cue is None or text[cue["start"] : cue["end"]] == cue["text"]
    return body


def answers(llm_mock: respx.MockRouter, completion: Completion, *claims: dict[str, Any]) -> Any:
    """The model answers each call with the next claim (the last one again if asked more)."""
    route = llm_mock.post("/chat/completions")
    summary = {"headline": "Hearing", "lede": "A hearing was held.", "bullets": []}
    replies = [httpx.Response(200, json=completion(brief_json([c], **summary))) for c in claims]
    route.side_effect = replies + [replies[-1]] * 3
    return route


def reask_text(route: Any, call: int = 1) -> str:
    content: str = json.loads(route.calls[call].request.content)["messages"][-1]["content"]
    return content


def test_a_farmers_line_recalled_by_the_senator_is_not_her_brothers(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion
) -> None:
    wrong = claim(FARMER, holder="Tom Brandt", holder_role=None, stance="support")
    route = answers(llm_mock, completion, wrong)
    body = post(client, HEARING)
    assert body["claims"] == []  # contradicted twice: never returned
    [dropped] = [w for w in body["warnings"] if w["code"] == "claim_dropped_misattributed"]
    assert "Ada Brandt" in dropped["detail"] and "Tom Brandt" in dropped["detail"]
    assert body["usage"]["reasks"] == 1  # one reask naming the conflict, then the drop
    assert "the article gives this passage to Ada Brandt, not Tom Brandt" in reask_text(route)


def test_the_secretary_of_states_line_given_to_the_president_is_reasked_and_fixed(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion
) -> None:
    wrong = claim(NOT_OUR_WAR, holder="Omar Kell", holder_role="President", stance="oppose")
    fixed = wrong | {"holder": "Lena Voss", "holder_role": "Secretary of State"}
    route = answers(llm_mock, completion, wrong, fixed)
    body = post(client, BORDER)
    assert "not Omar Kell" in reask_text(route) and "Lena Voss" in reask_text(route)
    [only] = body["claims"]
    assert only["holder"] == "Lena Voss"
    assert only["attribution_check"] == {
        "status": "verified",
        "speaker": "Lena Voss",
        "cue": {
            "text": "the secretary of state said",
            "start": BORDER.index("the secretary of state said"),
            "end": BORDER.index("the secretary of state said") + len("the secretary of state said"),
        },
    }
    assert body["warnings"] == [] and body["usage"]["reasks"] == 1


def test_a_sentence_that_never_names_the_holder_is_unverified_or_dropped_on_request(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion
) -> None:
    jobs = claim(
        "The valley's factories added 300 manufacturing jobs last year",
        holder="Tom Brandt",
        holder_role=None,
        target="the rail freight bill",
        attribution="reported",
    )
    answers(llm_mock, completion, jobs)
    [returned] = post(client, HEARING)["claims"]
    assert returned["attribution_check"] == {"status": "unverified", "speaker": None, "cue": None}

    strict = post(client, HEARING, require_verified_attribution=True)
    assert strict["claims"] == []
    [dropped] = [w for w in strict["warnings"] if w["code"] == "claim_dropped_unverified"]
    assert dropped["detail"].startswith("Tom Brandt: the article does not say who said")


def test_require_verified_attribution_takes_a_json_boolean_only(client: TestClient) -> None:
    body = {"article": {"text": PIER}, "options": {"require_verified_attribution": "yes"}}
    response = client.post("/v1/summaries", json=body)
    assert response.status_code == 422
    assert "require_verified_attribution" in response.text


def test_a_quote_repeated_in_the_headline_is_taken_where_the_holder_says_it(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion
) -> None:
    pier = claim("We will rebuild the pier by summer", holder="Lena Holt", holder_role="Mayor")
    answers(llm_mock, completion, pier)
    [only] = post(client, PIER)["claims"]
    second = PIER.index("We will rebuild the pier by summer", 10)
    assert only["evidence"]["start"] == second  # not the unattributed headline at 1
    assert only["attribution_check"]["status"] == "verified"
    assert only["attribution_check"]["cue"]["text"] == "said Mayor Lena Holt"


def test_two_words_of_evidence_ground_nothing(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion
) -> None:
    route = answers(llm_mock, completion, claim("the bill", holder="Tom Brandt"))
    body = post(client, HEARING)
    assert body["claims"] == []
    [dropped] = [w for w in body["warnings"] if w["code"] == "claim_dropped_ungrounded"]
    assert "fragment" in dropped["detail"] and "4 words" in dropped["detail"]
    assert "'the bill'" in reask_text(route)


def test_the_extractive_engine_fills_attribution_check(offline_client: TestClient) -> None:
    body = post(offline_client, HEARING)
    assert [c["holder"] for c in body["claims"]] == ["Ada Brandt", "Tom Brandt"]
    assert {c["attribution_check"]["status"] for c in body["claims"]} == {"verified"}
