"""Upstream answers take turns with the event loop: at most one begins its work in a loop pass.

Answers to calls sent together come back together, and the event loop runs every task it found
ready in one pass before it looks at its sockets again. So a burst of answers was checked and
answered one after another, a couple of milliseconds each, while the requests that the first
responses brought back waited unread; they then left together, and their answers came back
together: the burst repeated itself, and every request in it waited for the whole of it. With one
answer a pass, the loop reads its sockets between answers, a new request reaches its own upstream
call within a turn or two, and the burst spreads out. bench-scale's fixed-latency row measures it
(docs/BENCHMARKS.md). Each turn costs one pass of the loop: one non-blocking poll.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Turns:
    """One turn a pass of the event loop; whoever asks while it is taken waits, first come
    first served. A turn ends with its pass, so it needs no releasing and cannot be held."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False  # a turn is taken in this pass, or handed to a waiter for the next
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def take(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run many): the old one's queue is gone
            self._loop, self._busy, self._waiting = loop, False, deque()
        if not self._busy:
            self._busy = True
            loop.call_soon(self._next_pass, loop, False)
            return
        waiter = loop.create_future()
        self._waiting.append(waiter)
        await waiter  # cancelled while waiting: the future is cancelled and passed over

    def _next_pass(self, loop: asyncio.AbstractEventLoop, handed: bool) -> None:
        """Runs in the pass after a turn: wakes the next waiter, whose turn is the pass after
        this one. `handed`: a waiter woken by the last call is taking its turn in this pass, so
        the turn is freed only in the next."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                loop.call_soon(self._next_pass, loop, True)
                return
        if handed:
            loop.call_soon(self._next_pass, loop, False)
        else:
            self._busy = False
