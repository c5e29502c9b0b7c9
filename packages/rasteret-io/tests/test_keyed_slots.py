"""KeyedSlots: the per-record bound of a read's requests (free slots taken without waiting)."""

from __future__ import annotations

import asyncio

from rasteret_io._attempts import KeyedSlots


def test_free_slots_are_taken_without_waiting_and_the_bound_holds() -> None:
    async def main() -> None:
        slots = KeyedSlots(2)
        assert slots.try_acquire("a") and slots.try_acquire("a")
        assert not slots.try_acquire("a")  # both slots of "a" held
        assert slots.try_acquire("b")  # another record is not bound by "a"
        waiter = asyncio.ensure_future(slots.acquire("a"))
        await asyncio.sleep(0)
        assert not waiter.done()
        assert not slots.try_acquire("a")  # a waiter comes first
        slots.release("a")  # handed to the waiter: still two held
        await asyncio.sleep(0)
        assert waiter.done() and not slots.try_acquire("a")
        for key in ("a", "a", "b"):
            slots.release(key)
        assert len(slots) == 0  # nothing left over once every slot is back

    asyncio.run(main())


def test_waiters_are_served_in_order_and_a_cancelled_waiter_leaves_no_trace() -> None:
    async def main() -> None:
        slots = KeyedSlots(1)
        await slots.acquire("r")
        order: list[int] = []

        async def wait(i: int) -> None:
            await slots.acquire("r")
            order.append(i)

        first, second, third = (asyncio.ensure_future(wait(i)) for i in range(3))
        await asyncio.sleep(0)
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        slots.release("r")
        await asyncio.sleep(0)
        assert order == [0] and first.done() and not third.done()
        slots.release("r")
        await asyncio.sleep(0)
        assert order == [0, 2]
        slots.release("r")
        assert len(slots) == 0

    asyncio.run(main())


def test_a_slot_handed_to_a_cancelled_waiter_passes_on() -> None:
    async def main() -> None:
        slots = KeyedSlots(1)
        await slots.acquire("r")
        a = asyncio.ensure_future(slots.acquire("r"))
        b = asyncio.ensure_future(slots.acquire("r"))
        await asyncio.sleep(0)
        slots.release("r")  # hands the slot to a ...
        a.cancel()  # ... which is cancelled before it runs: b gets it
        await asyncio.gather(a, return_exceptions=True)
        await asyncio.sleep(0)
        assert b.done() and not b.cancelled()
        slots.release("r")
        assert len(slots) == 0

    asyncio.run(main())
