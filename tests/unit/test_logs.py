"""Access-log redaction: query values never reach the log, parameter names do when plain."""

from __future__ import annotations

import json
import logging

import pytest

from service.logs import AccessLogRedaction, JsonFormatter, redact_query


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/v1/summaries", "/v1/summaries"),
        ("/v1/prompts?api_key=sk-live-123", "/v1/prompts?api_key=…"),
        ("/x?a=1&b=2", "/x?a=…&b=…"),
        pytest.param("/x?sk-live-123", "/x?…", id="bare-secret-without-equals"),
        pytest.param("/x?na%20me=1", "/x?…", id="odd-name"),
        pytest.param("/x?a=1&&b", "/x?a=…&…&…", id="empty-parts"),
        pytest.param("/x?", "/x?…", id="empty-query"),
        pytest.param("/x?a=b=c", "/x?a=…", id="equals-in-value"),
    ],
)
def test_redact_query(target: str, logged: str) -> None:
    assert redact_query(target) == logged


def test_only_uvicorn_access_lines_are_rewritten() -> None:
    args = ("127.0.0.1:5000", "GET", "/v1/prompts?api_key=secret", "1.1", 200)
    access = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None
    )
    other = logging.LogRecord("service", logging.INFO, "", 0, "%s", ("?api_key=kept",), None)
    for record in (access, other):
        assert AccessLogRedaction().filter(record)
    assert "secret" not in access.getMessage() and "api_key=…" in access.getMessage()
    assert other.getMessage() == "?api_key=kept"


@pytest.mark.parametrize(
    "value",
    [
        ["link_removed", 3, 0.5, None, True],
        pytest.param("\ud800 lone surrogate", id="lone-surrogate"),
        pytest.param(2**70, id="int-past-64-bits"),
        pytest.param(object(), id="not-json"),
    ],
)
def test_a_json_line_carries_the_extra_fields_whatever_they_hold(value: object) -> None:
    record = logging.LogRecord("service", logging.INFO, "", 0, "summary", (), None)
    record.request_id = "r1"
    record.claims = value
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "summary" and entry["request_id"] == "r1"
    assert entry["logger"] == "service" and entry["level"] == "INFO"
    assert entry["claims"] == (value if isinstance(value, list | int) else str(value))
    assert "msg" not in entry and "args" not in entry  # the record's own attributes stay out
