"""A bound on how many CPU-heavy requests one process computes at once.

Ranking the catalog is pure Python (~0.25 s of CPU for a typical recommendation). Run in
uvicorn's 40-thread pool without a bound, 50 concurrent requests put 40 threads in contention
for the interpreter lock: the event loop waited seconds for its turn, so even /healthz took
8 s during such a burst. With a few slots the rest wait on an asyncio semaphore (no thread, no
lock contention); the burst takes as long as its CPU time, and everything else stays
responsive. See docs/operations.md, "Capacity".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


class ComputeSlots:
    """`await slots.run(fn, *args)`: fn in the thread pool once one of `slots` is free."""

    def __init__(self, slots: int):
        self._semaphore = asyncio.Semaphore(slots)  # bound to the running loop at first use

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        async with self._semaphore:
            return await run_in_threadpool(fn, *args, **kwargs)
