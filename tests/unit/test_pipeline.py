"""Where the pipeline runs its text steps: on the event loop, or in a worker thread."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from service.pipeline import INLINE_MAX_CHARS, _on_loop


@pytest.mark.parametrize(
    ("size", "llm", "on_loop"),
    [
        pytest.param(4_000, SimpleNamespace(in_flight=0), True, id="short-and-alone"),
        pytest.param(INLINE_MAX_CHARS, SimpleNamespace(in_flight=0), True, id="at-the-bound"),
        pytest.param(INLINE_MAX_CHARS + 1, SimpleNamespace(in_flight=0), False, id="long"),
        pytest.param(100_000, None, False, id="long-without-llm"),
        pytest.param(4_000, None, True, id="short-without-llm"),
        pytest.param(4_000, SimpleNamespace(in_flight=3), False, id="others-in-flight"),
    ],
)
def test_text_steps_leave_the_loop_when_long_or_when_other_calls_are_in_flight(
    size: int, llm: Any, on_loop: bool
) -> None:
    assert _on_loop(size, llm) is on_loop
