"""The provider-shape corpus through the real app: every shape → 200 or its problem type, never 500.

The table of shape → outcome is written to build/reliability/provider-shapes.md, and
docs/RELIABILITY.md's "Provider shapes" section must hold the same rows (a test checks it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from service.api import create_app
from service.api.problems import MAX_RETRY_AFTER_S
from service.settings import Settings
from tests.provider_shapes import OK, SECRET_BITS, SHAPES, Answer, Shape, choice, ok

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES: dict[str, str] = {}  # shape id → outcome as the table shows it


def shape_id(shape: Shape) -> str:
    return f"{shape.provider}: {shape.name}"


def raw(answer: Answer) -> httpx.Response:
    body = answer.body
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"content-type": "application/json"} | answer.headers
    return httpx.Response(answer.status, headers=headers, content=content)


AppFor = Callable[[Shape], TestClient]


@pytest.fixture
def served(settings: Settings, llm_mock: respx.MockRouter) -> tuple[AppFor, respx.Route]:
    """A factory: the real app for a shape's settings, with the shape's answers served in order."""
    route = llm_mock.post("/chat/completions")

    def app_for(shape: Shape) -> TestClient:
        answers = list(shape.answers)
        route.side_effect = lambda request: raw(answers.pop(0) if len(answers) > 1 else answers[0])
        return TestClient(
            create_app(settings.model_copy(update=shape.settings)), raise_server_exceptions=False
        )

    return app_for, route


@pytest.mark.slow  # every shape through the whole app, retries included
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_every_provider_shape_ends_in_200_or_its_problem(
    served: tuple[AppFor, respx.Route], article: str, shape: Shape
) -> None:
    app_for, route = served
    with app_for(shape) as client:
        response = client.post("/v1/summaries", json={"article": {"text": article}})
    body = response.json()
    outcome = "200" if response.status_code == 200 else f"{response.status_code} {body['type']}"
    OUTCOMES[shape_id(shape)] = outcome.replace("https://newsbrief.dev/problems/", "")
    assert response.status_code != 500, body
    if shape.expect == "200":
        assert response.status_code == 200, body
        for c in body["claims"]:
            assert article[c["evidence"]["start"] : c["evidence"]["end"]] == c["evidence"]["text"]
    else:
        assert response.headers["content-type"] == "application/problem+json"
        assert body["type"].endswith("/" + shape.expect), body
        assert len(body["detail"]) <= 300
        leaked = [bit for bit in SECRET_BITS if bit in response.text]
        assert not leaked, f"upstream text reached the client: {leaked}"
        if response.status_code == 503 and shape.expect != "llm-quota-exhausted":
            assert 1 <= int(response.headers["retry-after"]) <= MAX_RETRY_AFTER_S
    if shape.calls is not None:
        assert route.call_count == shape.calls


def test_usage_counts_sent_as_strings_are_counted(
    served: tuple[AppFor, respx.Route], article: str
) -> None:
    [shape] = [s for s in SHAPES if s.name == "usage counts as strings"]
    app_for, _ = served
    with app_for(shape) as client:
        usage = client.post("/v1/summaries", json={"article": {"text": article}}).json()["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (812, 0)


def test_a_huge_bad_answer_is_not_sent_back_in_the_reask(
    served: tuple[AppFor, respx.Route], article: str
) -> None:
    huge = Answer(200, ok(choices=[choice({"role": "assistant", "content": "{" * 300_000})]))
    app_for, route = served
    with app_for(Shape("any", "huge invalid answer, then a good one", (huge, OK), "200")) as client:
        response = client.post("/v1/summaries", json={"article": {"text": article}})
    assert response.status_code == 200 and route.call_count == 2
    reask = route.calls[1].request.content
    assert len(reask) < 100_000 and b"{{{{" not in reask


def render() -> str:
    lines = ["| provider | what the upstream sends | newsbrief answers |", "| --- | --- | --- |"]
    lines += [
        f"| {s.provider} | {s.name} | {OUTCOMES.get(shape_id(s), 'not run')} |" for s in SHAPES
    ]
    return "\n".join(lines)


def test_the_table_in_reliability_md_matches_the_corpus() -> None:
    """Runs after the corpus (file order): the documented table is the measured one."""
    if len(OUTCOMES) < len(SHAPES):
        pytest.skip("run the whole file to check the table")
    table = render()
    out = ROOT / "build" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "provider-shapes.md").write_text(table + "\n")
    documented = (ROOT / "docs" / "RELIABILITY.md").read_text(encoding="utf-8")
    missing = [row for row in table.splitlines()[2:] if row not in documented]
    assert not missing, "docs/RELIABILITY.md ## Provider shapes is stale; paste:\n" + table
