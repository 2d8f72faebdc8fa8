"""The write path: answers queue up and one task writes them in batches, off the request path.

A route submits an answer and, by default, waits a bounded time for its commit. The queue is
bounded: when it is full, or the store failed moments ago, an answer is refused at once (the
caller then says `not_stored`) instead of piling up or making clients wait on a dead database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from service.errors import StoreUnavailableError
from service.store.records import Answer
from service.store.store import Store, reason

log = logging.getLogger(__name__)
BATCH = 100  # answers per transaction at most
COOLDOWN_S = 2.0  # after a failed write, answers are refused this long before trying again


class Writer:
    """One per app: `submit` from routes, `run` as a task in the lifespan, `close` at shutdown."""

    def __init__(
        self,
        store: Store,
        max_queued: int,
        *,
        on_written: Callable[[str, int], None] = lambda outcome, n: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._queue: asyncio.Queue[tuple[Answer, asyncio.Future[None]]] = asyncio.Queue(max_queued)
        self._on_written = on_written  # (outcome, answers): metrics
        self._clock = clock
        self._down_until = 0.0
        self.last_failure: str | None = None  # the database's words, for /readyz
        self._task: asyncio.Task[None] | None = None

    def submit(self, answer: Answer) -> asyncio.Future[None]:
        """A future that is done when the answer is kept, or fails with StoreUnavailableError."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.retry_in_s():
            done.set_exception(StoreUnavailableError("the store failed moments ago"))
            self._on_written("refused", 1)
        else:
            try:
                self._queue.put_nowait((answer, done))
            except asyncio.QueueFull:
                done.set_exception(StoreUnavailableError("the store's write queue is full"))
                self._on_written("refused", 1)
        return done

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def retry_in_s(self) -> float:
        """How long answers are still refused after a failed write (0: they are taken)."""
        return max(0.0, self._down_until - self._clock())

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="store-writer")

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[tuple[Answer, asyncio.Future[None]]]) -> None:
        try:
            await self.store.write([answer for answer, _ in batch])
        except Exception as exc:  # whatever it is, the writer goes on
            if len(batch) > 1:  # one bad answer must not cost the others their place
                for one in batch:
                    if self.retry_in_s():  # the store itself failed: stop here
                        _settle([one], StoreUnavailableError("the store failed moments ago"))
                        self._on_written("failed", 1)
                    else:
                        await self._write([one])
                return
            if isinstance(exc, StoreUnavailableError):  # the database, not this answer
                self._down_until = self._clock() + COOLDOWN_S
                self.last_failure = reason(exc)
            failure = StoreUnavailableError("the store could not keep the answer")
            log.warning(
                "store: an answer was not kept",
                extra={
                    "summary_id": batch[0][0].response.id,
                    "for_request": batch[0][0].request_id,
                    "reason": reason(exc),
                },
            )
            _settle(batch, failure)
            self._on_written("failed", 1)
            return
        _settle(batch, None)
        self._on_written("stored", len(batch))

    async def flush(self) -> None:
        """Wait until everything submitted so far is written or has failed."""
        await self._queue.join()

    async def close(self, timeout_s: float) -> None:
        """Write what is queued (within `timeout_s`), then stop."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.flush()
        except TimeoutError:
            log.warning(
                "store: answers still queued at shutdown were not kept",
                extra={"queued": self._queue.qsize()},
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _settle(batch: list[tuple[Answer, asyncio.Future[None]]], failure: Exception | None) -> None:
    for _, done in batch:
        if done.done():  # the route stopped waiting; nobody reads it
            continue
        if failure is None:
            done.set_result(None)
        else:
            done.set_exception(failure)
