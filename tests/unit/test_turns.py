"""Turns: one a pass of the event loop, first come first served, never stuck; on asyncio's own
loop and on uvloop, which the service runs on."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from service.turns import Turns
from tests.support import pass_counter

Run = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


@pytest.fixture(params=[asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def new_loop(request: pytest.FixtureRequest) -> Callable[[], asyncio.AbstractEventLoop]:
    factory: Callable[[], asyncio.AbstractEventLoop] = request.param
    return factory


@pytest.fixture
def run(new_loop: Callable[[], asyncio.AbstractEventLoop]) -> Run:
    def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loop = new_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(scenario(), 5))
        finally:
            loop.close()

    return run


def test_one_turn_a_pass_in_the_order_asked(run: Run) -> None:
    taken: list[tuple[str, int]] = []

    async def scenario() -> None:
        turns = Turns()
        with pass_counter() as passes:

            async def answer(name: str) -> None:
                await turns.take()
                taken.append((name, passes[0]))

            # All ready in the same pass, as a burst of upstream answers is.
            await asyncio.gather(*(answer(name) for name in "abcd"))

    run(scenario)
    assert [name for name, _ in taken] == list("abcd")
    assert len({at for _, at in taken}) == 4, f"two turns in one pass: {taken}"


def test_never_two_turns_in_a_pass_however_requests_come(run: Run) -> None:
    """Answers arriving at random passes, some giving up while they wait: every turn has a pass
    of its own, including the pass where the queue runs dry, and turns go in the order asked."""
    asked: list[int] = []
    taken: list[tuple[int, int]] = []

    async def scenario() -> None:
        turns = Turns()
        draw = random.Random(7)
        with pass_counter() as passes:

            async def answer(i: int, after: int) -> None:
                for _ in range(after):
                    await asyncio.sleep(0)
                asked.append(i)
                await turns.take()
                taken.append((i, passes[0]))

            tasks = [asyncio.create_task(answer(i, draw.randrange(400))) for i in range(200)]
            for _ in range(30):
                await asyncio.sleep(0)
                draw.choice(tasks).cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    run(scenario)
    at = [p for _, p in taken]
    assert len(set(at)) == len(at), "two turns in one pass"
    order = [i for i, _ in taken]
    assert order == [i for i in asked if i in set(order)], "turns out of the order asked"
    assert len(taken) >= 170  # most were not cancelled


def test_other_work_runs_between_turns(run: Run) -> None:
    """What the loop was handed between two turns (a new request's first step) runs before
    the second turn, not after the whole burst."""
    order: list[str] = []

    async def scenario() -> None:
        turns = Turns()

        async def answer(name: str) -> None:
            await turns.take()
            order.append(name)
            if name == "a":
                asyncio.get_running_loop().call_soon(order.append, "new request")

        await asyncio.gather(*(answer(name) for name in "abc"))

    run(scenario)
    assert order.index("new request") < order.index("c")


def test_a_cancelled_waiter_is_passed_over(run: Run) -> None:
    done: list[str] = []

    async def scenario() -> None:
        turns = Turns()

        async def answer(name: str) -> None:
            await turns.take()
            done.append(name)

        first = asyncio.create_task(answer("a"))
        gone = asyncio.create_task(answer("gone"))
        last = asyncio.create_task(answer("c"))
        await asyncio.sleep(0)  # all three asked: "a" has the turn, the others wait
        gone.cancel()
        await asyncio.wait_for(asyncio.gather(first, last), 1)
        assert gone.cancelled()

    run(scenario)
    assert done == ["a", "c"]


def test_a_turn_left_by_a_closed_loop_does_not_block_the_next(
    new_loop: Callable[[], asyncio.AbstractEventLoop], run: Run
) -> None:
    turns = Turns()
    loop = new_loop()

    async def hold() -> None:
        await turns.take()
        loop.stop()  # the loop ends with this pass: the turn is never handed on

    held = loop.create_task(hold())
    loop.run_forever()
    assert held.done()
    loop.close()

    async def take_again() -> None:
        await asyncio.wait_for(turns.take(), 1)

    run(take_again)
