"""The store under load and fuzz: two service processes writing to one PostgreSQL database (and
to one SQLite file) at once, and generated requests against every store route."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from service.api import create_app
from service.settings import Settings
from tests.store.conftest import BACKENDS, article_text
from tests.support import service

pytestmark = pytest.mark.reliability
PER_SERVICE = 30


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_processes_writing_at_once_keep_every_answer(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        where = {"data_dir": str(tmp_path / "shared-data")}
    else:
        where = {"database_url": request.getfixturevalue("fresh_postgres_url")}
    where["store_confirm_s"] = "5"  # each answer waits for its row, so none may say not_stored
    with ExitStack() as stack:
        a = stack.enter_context(service(**where))
        b = stack.enter_context(service(**where))  # both migrate at start-up: one waits

        def post(n: int) -> httpx.Response:
            base = a if n % 2 else b
            text = f"{article_text('water-cap-vote')}\n\nCopy {n} of the wire story."
            return httpx.post(f"{base}/v1/summaries", json={"article": {"text": text}}, timeout=30)

        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(post, range(2 * PER_SERVICE)))
        assert [r.status_code for r in replies] == [200] * (2 * PER_SERVICE)
        assert all("not_stored" not in r.text for r in replies)
        ids, cursor = set(), None
        while True:
            page = httpx.get(
                f"{a}/v1/summaries", params={"limit": 25, **({"cursor": cursor} if cursor else {})}
            ).json()
            ids |= {s["id"] for s in page["items"]}
            if not (cursor := page["next_cursor"]):
                break
        assert ids == {r.json()["id"] for r in replies}
        for r in replies[:6]:  # each read back through the other process, unchanged
            assert httpx.get(f"{b}/v1/summaries/{r.json()['id']}").content == r.content
        claims = httpx.get(f"{b}/v1/claims", params={"holder": "Senator Marsh", "limit": 200})
        assert len(claims.json()["items"]) == 2 * 2 * PER_SERVICE  # two Marsh quotes per copy


def test_generated_requests_to_the_store_routes_cause_no_server_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """schemathesis, in-process: every store operation, valid and invalid input, never a 5xx,
    and every response matches the OpenAPI document."""
    app = create_app(Settings(data_dir=tmp_path / "data"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: Counter[int] = Counter()
    operations = [
        ("/v1/summaries", "GET"),
        ("/v1/summaries/{summary_id}", "GET"),
        ("/v1/summaries/{summary_id}", "DELETE"),
        ("/v1/summaries/{summary_id}/feedback", "GET"),
        ("/v1/summaries/{summary_id}/feedback", "POST"),
        ("/v1/claims", "GET"),
    ]
    for path, method in operations:
        operation = schema[path][method]
        cases = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @given(case=cases)
        @settings(
            max_examples=150,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call()
            seen[response.status_code] += 1
            # A cursor is opaque: one of the schema's shape that we never handed out is a 400.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])
            assert response.status_code < 500

        call()
    with capsys.disabled():
        print(f"\nschemathesis (store): statuses {dict(sorted(seen.items()))}")
    assert seen[200] > 0 and seen[404] > 0 and seen[422] > 0
