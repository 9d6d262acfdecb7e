"""Group commit: calls that arrive together are written together, each caller answered
on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """`await batch(item)` queues `item`; items queued while the previous batch is being
    written, or within `window` seconds of the first when the previous batch had company
    (a lone caller, such as a consumer taking one record at a time, never waits), are
    written by one call of `write` (at most `max_items`, one batch at a time). `write`
    returns one result per item, or an exception for an item alone; an exception it
    raises goes to every caller of that batch. A caller that gives up does not stop the
    write."""

    def __init__(self, write: Callable[[list[T]], Awaitable[Sequence[R | Exception]]], *,
                 window: float = 0.002, max_items: int = 100) -> None:
        self._write, self.window, self.max_items = write, window, max_items
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        self._last_size = 1

    async def __call__(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        return await fut

    async def _run(self) -> None:
        while self._queue:
            if self.window > 0 and self._last_size > 1:
                await asyncio.sleep(self.window)
            batch = self._queue[: self.max_items]
            del self._queue[: self.max_items]
            self._last_size = len(batch)
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            except BaseException:  # cancelled: the callers must not wait forever
                for _, fut in batch + self._queue:
                    fut.cancel()
                self._queue.clear()
                raise
            if len(results) != len(batch):
                wrong = RuntimeError(f"a batch of {len(batch)} got {len(results)} results")
                results = [wrong] * len(batch)
            for (_, fut), result in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
