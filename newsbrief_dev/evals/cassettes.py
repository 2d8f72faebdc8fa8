"""Cassettes: the raw Chat Completions responses one prompt version gave for one case.

A cassette is JSON at evals/cassettes/<name>@<version>/<case>.json. Replay serves its responses in
order through an httpx.MockTransport (no test library needed), repeating the last one if the
pipeline asks again (a model that makes the same mistake twice). Recorded cassettes carry the
sha256 of the request that produced them, so a prompt or article change shows up as a stale
cassette instead of a silently wrong score.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from service.errors import CassetteError
from service.schemas import LLMOutput

REPLAY_BASE_URL = "http://cassette.replay/v1"


class Exchange(BaseModel):
    """One upstream answer: status, the headers that matter, and the raw body."""

    model_config = ConfigDict(extra="forbid")

    status: int = 200
    headers: dict[str, str] = {}
    body: dict[str, Any]


class Cassette(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["hand-written", "recorded"]
    prompt: str
    case: str
    model: str | None = None
    request_sha256: str | None = None
    recorded_at: str | None = None
    note: str | None = None
    responses: list[Exchange]


def path_for(root: Path, prompt_ref: str, case_id: str) -> Path:
    return root / "cassettes" / prompt_ref / f"{case_id}.json"


def load(root: Path, prompt_ref: str, case_id: str) -> Cassette:
    return load_path(path_for(root, prompt_ref, case_id))


def load_path(path: Path) -> Cassette:
    try:
        cassette = Cassette.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise CassetteError(f"no cassette at {path}") from None
    except ValidationError as exc:
        raise CassetteError(f"{path}: {exc}") from exc
    if not cassette.responses:
        raise CassetteError(f"{path}: no responses")
    return cassette


def answer(exchange: Exchange) -> LLMOutput | None:
    """The model's answer in one exchange, when it is a complete, valid one; else None."""
    choices = exchange.body.get("choices")
    if exchange.status != 200 or not isinstance(choices, list) or not choices:
        return None
    content = (choices[0].get("message") or {}).get("content")
    try:
        return LLMOutput.model_validate_json(content) if isinstance(content, str) else None
    except ValidationError:
        return None


def request_sha256(body: bytes) -> str:
    """What makes two requests the same answer's question: model, messages and output settings."""
    data = json.loads(body)
    keep = ("model", "messages", "response_format", "temperature", "max_completion_tokens")
    canonical = json.dumps({k: data.get(k) for k in keep}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Replay:
    """An httpx client whose chat completions are answered from one cassette."""

    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self.requests: list[bytes] = []
        self.served: list[Exchange] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST" or str(request.url) != f"{REPLAY_BASE_URL}/chat/completions":
            # Replay only knows chat completions: anything else is a caller's bug, shown as such.
            error = {"message": f"replay cannot answer {request.method} {request.url}"}
            return httpx.Response(404, json={"error": error})
        self.requests.append(request.content)
        served = self.cassette.responses[min(len(self.requests), len(self.cassette.responses)) - 1]
        self.served.append(served)
        return httpx.Response(served.status, headers=served.headers, json=served.body)

    @property
    def stale(self) -> bool:
        """A recorded cassette whose first request no longer matches what we send now."""
        expected = self.cassette.request_sha256
        if expected is None or not self.requests:
            return False
        return request_sha256(self.requests[0]) != expected


class Recorder(httpx.AsyncBaseTransport):
    """The transport of a client that keeps every chat completion it carries for a cassette,
    sent on by a live client (proxies from the environment and all). A transport, not the
    client's event hooks: LLMClient sends through its client's transport alone."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.exchanges: list[Exchange] = []
        self._live = httpx.AsyncClient(timeout=httpx.Timeout(120))
        # trust_env off: no proxy mounted from the environment may route around the recorder.
        self.client = httpx.AsyncClient(transport=self, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(await request.aread())
        response = await self._live.send(request)
        kept = {k: v for k, v in response.headers.items() if k.startswith("retry-after")}
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text}
        self.exchanges.append(Exchange(status=response.status_code, headers=kept, body=body))
        return response

    async def aclose(self) -> None:
        await self._live.aclose()

    def cassette(self, prompt_ref: str, case_id: str, model: str) -> Cassette:
        return Cassette(
            source="recorded",
            prompt=prompt_ref,
            case=case_id,
            model=model,
            request_sha256=request_sha256(self.requests[0]) if self.requests else None,
            recorded_at=datetime.now(UTC).isoformat(timespec="seconds"),
            responses=self.exchanges,
        )


def save(root: Path, cassette: Cassette, *, force: bool) -> Path:
    """Write a recorded cassette; a hand-written one is only replaced with force."""
    path = path_for(root, cassette.prompt, cassette.case)
    if path.exists() and not force:
        existing = json.loads(path.read_bytes()).get("source")
        if existing == "hand-written":
            raise CassetteError(f"{path} is hand-written; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = cassette.model_dump_json(indent=2, exclude_none=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path
