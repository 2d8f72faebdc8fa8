"""Where the pipeline runs its text steps: on the event loop, or in a worker thread."""

from __future__ import annotations

import pytest

from service.pipeline import INLINE_MAX_CHARS, _on_loop


@pytest.mark.parametrize(
    ("size", "on_loop"),
    [
        pytest.param(4_000, True, id="short"),
        pytest.param(INLINE_MAX_CHARS, True, id="at-the-bound"),
        pytest.param(INLINE_MAX_CHARS + 1, False, id="long"),
        pytest.param(100_000, False, id="very-long"),
    ],
)
def test_text_steps_leave_the_loop_when_long(size: int, on_loop: bool) -> None:
    assert _on_loop(size) is on_loop
