"""Fair scoring slots (search/fair_slots.py) without Ray: who gets a freed slot, and cancellation."""

import asyncio

import pytest

from search.fair_slots import FairSlots


async def _grants(slots: FairSlots, asks: list[int], hold_s: float = 0.01) -> list[int]:
    """Ask for a slot once per key in `asks` (in that order, all at once); the order they got one."""
    order: list[int] = []

    async def one(key: int) -> None:
        async with slots.slot(key):
            order.append(key)
            await asyncio.sleep(hold_s)

    tasks = []
    for key in asks:
        tasks.append(asyncio.ensure_future(one(key)))
        await asyncio.sleep(0)  # queued in this order
    await asyncio.gather(*tasks)
    return order


def test_a_free_slot_is_taken_at_once_and_the_capacity_holds() -> None:
    async def body() -> None:
        slots = FairSlots(2)
        held = 0
        most = 0

        async def one(key: int) -> None:
            nonlocal held, most
            async with slots.slot(key):
                held += 1
                most = max(most, held)
                await asyncio.sleep(0.01)
                held -= 1

        await asyncio.gather(*(one(k % 3) for k in range(9)))
        assert most == 2 and slots.waiting == {}

    asyncio.run(body())


def test_a_backlog_of_one_key_does_not_hold_back_the_others() -> None:
    """Worker 0 queued five before workers 1 and 2 asked: each gets the next slot in its turn."""
    order = asyncio.run(_grants(FairSlots(1), [0, 0, 0, 0, 0, 0, 1, 2]))
    assert order == [0, 1, 2, 0, 0, 0, 0, 0]


def test_waiting_keys_are_served_round_robin_first_come_first_served_within_a_key() -> None:
    order = asyncio.run(_grants(FairSlots(1), [2, 2, 2, 0, 0, 1, 1, 1]))
    # 2 holds the slot; then after 2 the round is 0, 1, 2, 0, 1, 2, 1.
    assert order == [2, 0, 1, 2, 0, 1, 2, 1]


def test_a_caller_cancelled_while_waiting_loses_no_slot() -> None:
    async def body() -> None:
        slots = FairSlots(1)
        await slots.acquire(0)
        gone = asyncio.ensure_future(slots.acquire(1))
        kept = asyncio.ensure_future(slots.acquire(2))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert slots.waiting == {2: 1}
        slots.release()
        await asyncio.wait_for(kept, 1)  # the slot went to 2, not to the cancelled 1
        slots.release()
        await asyncio.wait_for(slots.acquire(3), 1)  # and it came back

    asyncio.run(body())


def test_a_caller_cancelled_just_as_it_was_given_a_slot_passes_it_on() -> None:
    async def body() -> None:
        slots = FairSlots(1)
        await slots.acquire(0)
        first = asyncio.ensure_future(slots.acquire(1))
        second = asyncio.ensure_future(slots.acquire(2))
        await asyncio.sleep(0)
        slots.release()  # granted to 1 ...
        first.cancel()  # ... which is cancelled before it ran
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.wait_for(second, 1)

    asyncio.run(body())


def test_no_slots_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FairSlots(0)
