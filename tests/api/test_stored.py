"""The store through the app, on SQLite and PostgreSQL: every answer kept and read back byte for
byte, claims across articles, feedback, deletion, STORE=off, and a store that is down."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.api import create_app
from service.logs import RequestIdFilter
from service.settings import Settings
from service.store import Store
from service.store.tables import summaries
from tests.conftest import LLM_BASE, brief_json, claim, completion_json
from tests.store.conftest import BACKENDS, article_text
from tests.support import free_port

ARTICLES = ["water-cap-hearing", "water-cap-vote", "water-cap-town-hall"]
# What the model answers for each article: Ana Marsh under the three forms a model may use.
MARSH = {
    "water-cap-hearing": ("Ana Marsh", "Senator", "the Kelby water cap", "“If we keep pumping"),
    "water-cap-vote": ("Senator Marsh", None, "the summer water cap", "“I will listen on timing"),
    "water-cap-town-hall": (
        "Marsh",
        "state senator",
        "more studies of the river",
        "“We have studied",
    ),
}


def evidence_in(text: str, opening: str) -> str:
    """The whole quotation that starts with `opening`, as the article has it."""
    start = text.index(opening)
    return text[start : text.index("”", start) + 1]


def marsh_answer(name: str) -> str:
    text = article_text(name)
    holder, role, target, opening = MARSH[name]
    reyes = (
        [
            claim(
                evidence_in(text, "“The wells")
                if "“The wells" in text
                else evidence_in(text, "“We cannot"),
                holder="Tom Reyes",
                holder_role="Councillor",
                stance="neutral",
                target="the town's wells",
                claim="The town's wells matter more than the argument.",
            )
        ]
        if "Reyes" in text
        else []
    )
    marsh = claim(
        evidence_in(text, opening),
        holder=holder,
        holder_role=role,
        stance="support",
        target=target,
        claim="Marsh backs a cap on irrigation.",
    )
    return brief_json(
        [marsh, *reyes], headline="Kelby water cap", lede="The cap moves on.", bullets=[]
    )


@pytest.fixture(params=BACKENDS)
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    database = request.getfixturevalue("fresh_postgres_url") if request.param != "sqlite" else None
    return Settings(
        llm_base_url=LLM_BASE,
        llm_api_key="test-key-not-real",
        llm_model="test-model",
        api_keys="reader-key-1,other-key-2",
        cache_size=0,
        data_dir=tmp_path / "data",
        database_url=database,
    )


@pytest.fixture
def llm(llm_mock: respx.MockRouter) -> respx.MockRouter:
    return llm_mock


@pytest.fixture
def http(store_settings: Settings, llm: respx.MockRouter) -> Iterator[TestClient]:
    app = create_app(store_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-API-Key"] = "reader-key-1"
        yield client


def post_marsh(http: TestClient, llm: respx.MockRouter, name: str, **article: Any) -> Any:
    answer = marsh_answer(name)
    llm.post("/chat/completions").respond(200, json=completion_json(answer))
    body = {"article": {"text": article_text(name), "source": "Kelby Courier", **article}}
    return http.post("/v1/summaries", json=body)


def test_three_articles_posted_are_each_read_back_unchanged_and_searchable_by_holder(
    http: TestClient, llm: respx.MockRouter
) -> None:
    posted = {name: post_marsh(http, llm, name) for name in ARTICLES}
    ids = {}
    for name, response in posted.items():
        assert response.status_code == 200, response.text
        sid = response.json()["id"]
        ids[sid] = name
        assert response.headers["location"] == f"/v1/summaries/{sid}"
        assert response.json()["warnings"] == []
        kept = http.get(f"/v1/summaries/{sid}")
        assert kept.status_code == 200
        assert kept.content == response.content  # byte for byte what was sent
        assert kept.headers["content-type"] == "application/json"
        assert kept.headers["stored-at"].endswith("Z")
    for asked in ["Ana Marsh", "Senator Marsh", "senator ana marsh"]:
        found = http.get("/v1/claims", params={"holder": asked}).json()
        assert found["next_cursor"] is None
        assert {c["summary_id"] for c in found["items"]} == set(ids), asked
        for c in found["items"]:
            text = article_text(ids[c["summary_id"]])
            ev = c["evidence"]
            assert text[ev["start"] : ev["end"]] == ev["text"]
            assert c["source"] == "Kelby Courier" and c["attribution_status"] == "verified"
    reyes = http.get("/v1/claims", params={"holder": "Councillor Reyes"}).json()["items"]
    assert {c["holder"] for c in reyes} == {"Tom Reyes"} and len(reyes) == 2
    cap = http.get("/v1/claims", params={"target": "water caps"}).json()["items"]
    assert {c["target"] for c in cap} == {"the Kelby water cap", "the summer water cap"}
    supports = http.get("/v1/claims", params={"stance": "support", "holder": "Marsh"}).json()
    assert len(supports["items"]) == 3


def test_the_model_s_raw_answer_and_the_key_id_are_kept_not_the_key(
    http: TestClient, llm: respx.MockRouter
) -> None:
    response = post_marsh(http, llm, "water-cap-vote")
    sid = response.json()["id"]
    assert (
        http.post(
            f"/v1/summaries/{sid}/feedback", json={"claim": 0, "verdict": "correct"}
        ).status_code
        == 201
    )
    store: Store = http.app.state.services.store  # type: ignore[attr-defined]
    [reviewed] = http.portal.call(store.feedback_for_export)  # type: ignore[attr-defined]
    assert reviewed.upstream_text == marsh_answer("water-cap-vote")
    assert reviewed.model == "test-model" and reviewed.prompt_ref == "summarize@v1"

    async def audit() -> Any:
        async with store.engine.connect() as conn:
            return (await conn.execute(select(summaries))).one()

    row = http.portal.call(audit)  # type: ignore[attr-defined]
    assert row.api_key_id == hashlib.sha256(b"reader-key-1").hexdigest()[:12]
    assert "reader-key-1" not in json.dumps([str(v) for v in row])
    assert row.request_id == response.headers["x-request-id"] and row.latency_ms > 0


def test_lists_page_with_cursors_and_refuse_bad_ones(
    http: TestClient, llm: respx.MockRouter
) -> None:
    for name in ARTICLES:
        post_marsh(http, llm, name, source=f"Post {name[-4:]}")
    first = http.get("/v1/summaries", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = http.get("/v1/summaries", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert rest["items"][0]["claims"] in (1, 2) and rest["items"][0]["prompt"] == "summarize@v1"
    bad = http.get("/v1/summaries", params={"cursor": page["next_cursor"][:-2] + "xx"})
    assert bad.status_code == 400 and bad.json()["type"].endswith("/bad-cursor")
    assert bad.headers["content-type"] == "application/problem+json"
    other = http.get("/v1/summaries", params={"cursor": page["next_cursor"], "source": "Post vote"})
    assert other.status_code == 400 and "different query" in other.json()["detail"]
    for params in [{"limit": 0}, {"limit": 201}, {"since": "yesterday"}, {"stance": "angry"}]:
        path = "/v1/claims" if "stance" in params else "/v1/summaries"
        refused = http.get(path, params=params)
        assert refused.status_code == 422, params
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "Request parameters are invalid"  # not "body"
    one = http.get("/v1/summaries", params={"source": "Post vote"}).json()["items"]
    assert len(one) == 1


def test_unknown_ids_are_404_and_delete_removes_everything(
    http: TestClient, llm: respx.MockRouter
) -> None:
    for path in ["/v1/summaries/0123", "/v1/summaries/nope/feedback"]:
        missing = http.get(path)
        assert missing.status_code == 404 and missing.json()["type"].endswith("/summary-not-found")
    sid = post_marsh(http, llm, "water-cap-hearing").json()["id"]
    http.post(f"/v1/summaries/{sid}/feedback", json={"claim": 0, "verdict": "correct"})
    assert http.delete(f"/v1/summaries/{sid}").status_code == 204
    assert http.get(f"/v1/summaries/{sid}").status_code == 404
    assert http.get(f"/v1/summaries/{sid}/feedback").status_code == 404
    assert http.get("/v1/claims", params={"holder": "Ana Marsh"}).json()["items"] == []
    assert http.delete(f"/v1/summaries/{sid}").status_code == 404


def test_feedback_names_what_is_wrong_with_it(http: TestClient, llm: respx.MockRouter) -> None:
    sid = post_marsh(http, llm, "water-cap-hearing").json()["id"]
    url = f"/v1/summaries/{sid}/feedback"
    given = {
        "claim": 0,
        "verdict": "incorrect",
        "corrected": {"stance": "oppose"},
        "note": "she opposes pumping, not the cap",
        "reviewer": "desk",
    }
    created = http.post(url, json=given)
    assert created.status_code == 201, created.text
    assert created.json()["corrected"] == {"stance": "oppose"} and created.json()["claim"] == 0
    field = http.post(
        url,
        json={
            "field": "headline",
            "verdict": "partly",
            "corrected": {"headline": "Senate hears farmers"},
        },
    )
    assert field.status_code == 201, field.text
    listed = http.get(url).json()["items"]
    assert [(f["claim"], f["field"]) for f in listed] == [(0, None), (None, "headline")]

    out_of_range = http.post(url, json={"claim": 7, "verdict": "correct"})
    assert out_of_range.status_code == 422
    assert out_of_range.json()["type"].endswith("/invalid-feedback")
    assert out_of_range.json()["field"] == "claim" and "claim 7" in out_of_range.json()["detail"]
    for body, named in [
        ({"claim": 0, "verdict": "wrongish"}, "verdict"),
        ({"field": "byline", "verdict": "correct"}, "field"),
        ({"claim": 0, "field": "lede", "verdict": "correct"}, "exactly one"),
        ({"verdict": "correct"}, "exactly one"),
        ({"claim": 0, "verdict": "partly", "corrected": {"stance": "furious"}}, "stance"),
        ({"claim": 0, "verdict": "partly", "corrected": {"headline": "x"}}, "claim fields"),
        ({"field": "lede", "verdict": "partly", "corrected": {"headline": "x"}}, "only 'lede'"),
        ({"claim": -1, "verdict": "correct"}, "claim"),
    ]:
        refused = http.post(url, json=body)
        assert refused.status_code == 422, body
        assert named in json.dumps(refused.json()), (body, refused.json())


def test_the_read_api_asks_for_the_same_keys(http: TestClient) -> None:
    for method, path in [
        ("GET", "/v1/summaries"),
        ("GET", "/v1/claims"),
        ("DELETE", "/v1/summaries/x"),
    ]:
        refused = http.request(method, path, headers={"X-API-Key": "wrong"})
        assert refused.status_code == 401


def test_store_off_keeps_nothing_and_says_so(tmp_path: Path) -> None:
    settings = Settings(store="off", data_dir=tmp_path / "off-data")
    with TestClient(create_app(settings)) as http:
        response = http.post(
            "/v1/summaries", json={"article": {"text": article_text("water-cap-vote")}}
        )
        assert response.status_code == 200 and "location" not in response.headers
        assert [w["code"] for w in response.json()["warnings"]] == ["no_llm"]
        kept = http.get(f"/v1/summaries/{response.json()['id']}")
        assert kept.status_code == 404 and "NEWSBRIEF_STORE=off" in kept.json()["detail"]
        assert http.get("/v1/claims").status_code == 404
    assert not (tmp_path / "off-data").exists()


def writes(http: TestClient) -> dict[str, float]:
    text = http.get("/metrics").text
    return {
        o: float(line.rsplit(" ", 1)[1])
        for o in ("stored", "failed", "refused")
        for line in text.splitlines()
        if line.startswith(f'newsbrief_store_writes_total{{outcome="{o}"}}')
    }


@pytest.mark.parametrize("confirm_s", [0, 2])
def test_a_store_down_from_the_start_still_answers_with_not_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, confirm_s: float
) -> None:
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/gone"  # nothing listens there
    settings = Settings(database_url=dead, data_dir=tmp_path / "data", store_confirm_s=confirm_s)
    caplog.set_level(logging.WARNING)
    caplog.handler.addFilter(RequestIdFilter())  # what the service's log handler adds
    with TestClient(create_app(settings), raise_server_exceptions=False) as http:
        body = {"article": {"text": article_text("water-cap-vote")}}
        first = http.post("/v1/summaries", json=body, headers={"X-Request-ID": "req-down-1"})
        assert first.status_code == 200 and first.json()["claims"]
        codes = [w["code"] for w in first.json()["warnings"]]
        if confirm_s:  # it waited for its write, and knows
            assert codes[-1] == "not_stored" and "location" not in first.headers
        else:  # it went out queued; the failure came after, logged and counted
            assert "not_stored" not in codes and "location" in first.headers
            http.portal.call(http.app.state.services.writer.flush)  # type: ignore[attr-defined]
        second = http.post(
            "/v1/summaries", json=body, headers={"X-Request-ID": "req-down-2"}
        )  # within the cool-down: refused at once, whatever confirm_s
        [warning] = [w for w in second.json()["warnings"] if w["code"] == "not_stored"]
        assert "failed moments ago" in warning["detail"] and "location" not in second.headers
        assert writes(http) == {"stored": 0, "failed": 1, "refused": 1}
        read = http.get(f"/v1/summaries/{first.json()['id']}")
        assert read.status_code == 503 and read.json()["type"].endswith("/store-unavailable")
        ready = http.get("/readyz")  # still ready: answers go out, each saying not_stored
        store = ready.json()["store"]
        assert ready.status_code == 200 and store["state"] == "failing", store
        assert store["backend"] == "postgresql" and store["last_failure"]
        metrics = http.get("/metrics").text
        told = 2 if confirm_s else 1
        assert f'newsbrief_response_warnings_total{{code="not_stored"}} {told}.0' in metrics
    lines = [r for r in caplog.records if r.getMessage() == "summary not stored"]
    assert [r.levelname for r in lines] == ["WARNING"] * told
    assert getattr(lines[-1], "request_id", None) == "req-down-2"
    failed = [r for r in caplog.records if r.getMessage() == "store: an answer was not kept"]
    assert [getattr(r, "for_request", None) for r in failed] == ["req-down-1"]


def test_a_write_that_fails_mid_run_or_is_slow_never_costs_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    settings = Settings(data_dir=tmp_path / "data", store_confirm_s=0.05)
    real_write = Store.write
    mode = {"now": "full"}

    async def faulty(self: Store, answers: Any) -> None:
        if mode["now"] == "full":
            # SQLAlchemy's message repeats the statement and its parameters: article text
            params = {"article_text": answers[0].request.article.text}
            raise OperationalError("INSERT", params, Exception("database or disk is full"))
        await asyncio.sleep(0.3)  # slower than the wait: the answer goes out first
        await real_write(self, answers)

    monkeypatch.setattr(Store, "write", faulty)
    monkeypatch.setattr("service.store.writer.COOLDOWN_S", 0.0)
    with TestClient(create_app(settings)) as http:
        body = {"article": {"text": article_text("water-cap-hearing")}}
        full = http.post("/v1/summaries", json=body)
        assert full.status_code == 200
        assert full.json()["warnings"][-1]["code"] == "not_stored"
        mode["now"] = "slow"
        slow = http.post("/v1/summaries", json=body)
        assert slow.status_code == 200
        assert "did not confirm" in slow.json()["warnings"][-1]["detail"]
        http.portal.call(http.app.state.services.writer.flush)  # type: ignore[attr-defined]
        later = http.get(f"/v1/summaries/{slow.json()['id']}")
        assert later.status_code == 200  # kept after all; its body lacks the late warning
        assert [w["code"] for w in later.json()["warnings"]] == ["no_llm"]
        assert writes(http)["failed"] == 1 and writes(http)["stored"] == 1
    reasons = [getattr(r, "reason", "") for r in caplog.records if r.levelname == "WARNING"]
    assert "Exception: database or disk is full" in reasons
    assert not any("Senate committee" in r.getMessage() + str(vars(r)) for r in caplog.records)


def test_cached_answers_are_kept_too(tmp_path: Path, llm: respx.MockRouter) -> None:
    settings = Settings(
        llm_base_url=LLM_BASE,
        llm_api_key="test-key-not-real",
        data_dir=tmp_path / "data",
        store_confirm_s=5,
    )
    llm.post("/chat/completions").respond(200, json=completion_json(marsh_answer("water-cap-vote")))
    with TestClient(create_app(settings)) as http:
        body = {"article": {"text": article_text("water-cap-vote")}}
        first, second = http.post("/v1/summaries", json=body), http.post("/v1/summaries", json=body)
        assert second.json()["cached"] is True and second.json()["id"] != first.json()["id"]
        listed = http.get("/v1/summaries").json()["items"]
        assert [s["cached"] for s in listed] == [True, False]
        assert http.get(f"/v1/summaries/{second.json()['id']}").content == second.content


def test_a_get_right_after_the_post_finds_the_answer(
    http: TestClient, llm: respx.MockRouter
) -> None:
    """By default each answer waits for its commit, so its Location is readable as soon as the
    client has it: POST then GET at once, again and again, on both databases."""
    assert http.app.state.services.settings.store_confirm_s > 0  # type: ignore[attr-defined]
    llm.post("/chat/completions").respond(200, json=completion_json(marsh_answer("water-cap-vote")))
    body = {"article": {"text": article_text("water-cap-vote")}}
    for _ in range(30):
        sent = http.post("/v1/summaries", json=body)
        assert "not_stored" not in [w["code"] for w in sent.json()["warnings"]]
        read = http.get(sent.headers["location"])
        assert read.status_code == 200 and read.content == sent.content


def test_with_store_confirm_s_0_an_answer_goes_out_at_once_and_is_kept_just_after(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path / "data", store_confirm_s=0)
    with TestClient(create_app(settings)) as http:
        body = {"article": {"text": article_text("water-cap-town-hall")}}
        sent = http.post("/v1/summaries", json=body)
        assert sent.status_code == 200 and sent.headers["location"].endswith(sent.json()["id"])
        assert [w["code"] for w in sent.json()["warnings"]] == ["no_llm"]
        http.portal.call(http.app.state.services.writer.flush)  # type: ignore[attr-defined]
        assert http.get(sent.headers["location"]).content == sent.content


def test_a_nul_in_the_article_is_kept_exactly_and_other_answers_are_not_refused(
    store_settings: Settings,
) -> None:
    # PostgreSQL's text cannot hold NUL: written as it was, the answer failed and the store's
    # cool-down then refused the next, unrelated answers too.
    offline = store_settings.model_copy(
        update={"llm_base_url": None, "llm_api_key": None, "api_keys": ()}
    )
    text = (
        "“We will act now on the water cap for every farm,” said Councillor Ana Marsh on "
        "Monday.\x00 The council met again \\0 later that week."
    )
    with TestClient(create_app(offline)) as http:
        first = http.post("/v1/summaries", json={"article": {"text": text}})
        assert [w["code"] for w in first.json()["warnings"]] == ["no_llm"], first.text
        assert http.get(first.headers["location"]).content == first.content
        after = http.post(
            "/v1/summaries", json={"article": {"text": article_text("water-cap-vote")}}
        )
        assert "not_stored" not in [w["code"] for w in after.json()["warnings"]]
        items = http.get("/v1/claims", params={"holder": "Ana Marsh"}).json()["items"]
        (found,) = [c for c in items if c["summary_id"] == first.json()["id"]]
        evidence = found["evidence"]
        assert text[evidence["start"] : evidence["end"]] == evidence["text"]
        store: Store = http.app.state.services.store  # type: ignore[attr-defined]
        (kept,) = [r for r in http.portal.call(_kept_texts, store) if r and "\x00" in r]
        assert kept == text  # NUL and the backslash read back as they were
        for params in [{"holder": "Ana\x00"}, {"target": "cap\x00"}, {"source": "a\x00b"}]:
            path = "/v1/summaries" if "source" in params else "/v1/claims"
            refused = http.get(path, params=params)
            assert refused.status_code == 422, params  # never the store's 503


async def _kept_texts(store: Store) -> list[str | None]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(select(summaries.c.article_text))).scalars())


def test_readyz_shows_the_store_working(http: TestClient, store_settings: Settings) -> None:
    backend = "postgresql" if store_settings.database_url else "sqlite"
    assert http.get("/readyz").json()["store"] == {
        "state": "on",
        "backend": backend,
        "queued": 0,
        "last_failure": None,
        "retry_in_s": None,
    }
