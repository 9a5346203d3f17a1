"""The bounded inference pool: a few threads, a queue of bounded depth, and a time limit per request.

A request that finds every thread busy and the queue full is refused at once (503 busy with Retry-After) instead
of waiting without bound; one that waits and runs longer than the limit is answered 503 timeout (its work
finishes in the background and its result is dropped).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from faceprint.service.errors import HttpError

__all__ = ["InferencePool"]

T = TypeVar("T")


class InferencePool:
    def __init__(self, workers: int, queue: int, timeout: float) -> None:
        self.workers, self.queue, self.timeout = workers, queue, timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="faceprint-infer")
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        """Requests running or waiting."""
        return self._pending

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._pending >= self.workers + self.queue:
                raise HttpError(
                    "busy", f"the server is busy ({self._pending} requests running or queued); try again shortly",
                    {"Retry-After": "1"},
                )
            self._pending += 1
        # in the request's context: the audit log's actor (gallery/audit.py) follows the work into the thread
        fut = asyncio.get_running_loop().run_in_executor(self._executor, contextvars.copy_context().run, fn, *args)
        fut.add_done_callback(self._done)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.timeout)
        except TimeoutError:
            raise HttpError("timeout", f"the request took longer than {self.timeout:g} s", {"Retry-After": "1"}) from None

    def _done(self, _: object) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
