"""Unit tests of the gateway's greedy batcher: no wait when idle, batches grow under load."""

from __future__ import annotations

import asyncio

import pytest

from serving.batching import GreedyBatcher


def test_an_idle_batcher_handles_a_request_at_once() -> None:
    async def main() -> tuple[list[int], list[int]]:
        seen: list[list[int]] = []

        async def handler(items: list[int]) -> list[int]:
            seen.append(items)
            return [item * 2 for item in items]

        batcher = GreedyBatcher(handler)
        results = [await batcher.submit(i) for i in range(3)]  # one at a time
        return results, [len(batch) for batch in seen]

    results, sizes = asyncio.run(main())
    assert results == [0, 2, 4]
    assert sizes == [1, 1, 1]


def test_requests_queued_while_busy_form_the_next_batch_in_order() -> None:
    async def main() -> tuple[list[int], list[list[int]]]:
        seen: list[list[int]] = []

        async def handler(items: list[int]) -> list[int]:
            seen.append(list(items))
            await asyncio.sleep(0.02)  # busy: the others queue meanwhile
            return [item + 100 for item in items]

        batcher = GreedyBatcher(handler, max_batch_size=8)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
        return list(results), seen

    results, seen = asyncio.run(main())
    assert results == [i + 100 for i in range(20)]
    assert [item for batch in seen for item in batch] == list(range(20))  # FIFO, none lost
    assert max(len(batch) for batch in seen) == 8  # capped at max_batch_size
    assert len(seen) <= 4  # 1 + 8 + 8 + 3: batching happened


def test_a_failing_batch_fails_its_callers_and_the_batcher_recovers() -> None:
    async def main() -> tuple[list[object], int]:
        calls = 0

        async def handler(items: list[int]) -> list[int]:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            if calls == 1:
                raise RuntimeError("model deployment down")
            return items

        batcher = GreedyBatcher(handler)
        failed = await asyncio.gather(
            *(batcher.submit(i) for i in range(5)), return_exceptions=True
        )
        return failed, await batcher.submit(7)

    failed, after = asyncio.run(main())
    assert all(isinstance(result, RuntimeError) for result in failed)  # one batch, all told
    assert after == 7  # the next batch runs


def test_a_handler_returning_the_wrong_count_is_an_error() -> None:
    async def main() -> None:
        async def handler(items: list[int]) -> list[int]:
            return []

        await GreedyBatcher(handler).submit(1)

    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        asyncio.run(main())


def test_max_batch_size_must_be_positive() -> None:
    async def handler(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError, match="max_batch_size"):
        GreedyBatcher(handler, max_batch_size=0)
