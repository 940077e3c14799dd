"""A thread-safe result cache that computes neighbouring configs in the background.

A bit-width slider has a handful of positions. While the user looks at one result, a single
worker thread quantizes and measures the other widths, so the next slider move is answered
from memory. A request for a result that is queued but not started is computed at once in
the caller's thread (the queued copy is cancelled); one that is running is waited for.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

BACKGROUND_NICE = 19


def background_priority() -> None:
    """Give the calling thread the lowest CPU priority (Linux keeps a nice value per thread, and the
    torch/OpenMP workers this thread starts later inherit it); a no-op where that is not supported."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


_CACHES: weakref.WeakSet[ResultCache] = weakref.WeakSet()


def pending() -> int:
    """Computations queued or running in every cache of this process (the warm-up waits for 0)."""
    return sum(c.pending() for c in list(_CACHES))


class ResultCache:
    def __init__(self, max_items: int = 96) -> None:
        self._futures: OrderedDict[Hashable, Future[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="quant-prefetch", initializer=background_priority
        )
        self._max = max_items
        _CACHES.add(self)

    def get(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        """The result for key: cached, awaited if being computed, else computed now. A prefetch that
        failed is computed again here, not served: it may have failed for a reason of its own thread
        (torch.fx tracing an INT8 model patches nn.Module.__call__ for every thread while it runs)."""
        with self._lock:
            fut = self._futures.get(key)
            if fut is not None and fut.cancel():  # queued behind others: do it now instead
                fut = None
            mine = fut is None
            if fut is None:
                fut = Future()
                self._futures[key] = fut
            self._futures.move_to_end(key)
            self._trim()
        if mine:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)
                with self._lock:
                    self._futures.pop(key, None)
                raise
            return fut.result()
        try:
            return fut.result()
        except Exception:  # a prefetch that failed (before or while awaited): once more, here
            with self._lock:
                if self._futures.get(key) is fut:
                    del self._futures[key]
            return self.get(key, fn)

    def prefetch(self, items: Iterable[tuple[Hashable, Callable[[], Any]]]) -> None:
        """Queue computations for keys not cached yet (in order; one worker thread)."""
        with self._lock:
            for key, fn in items:
                if key not in self._futures:
                    self._futures[key] = self._pool.submit(fn)
            self._trim()

    def pending(self) -> int:
        with self._lock:
            return sum(not f.done() for f in self._futures.values())

    def cached(self, key: Hashable) -> bool:
        with self._lock:
            fut = self._futures.get(key)
            return fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None

    def _trim(self) -> None:
        while len(self._futures) > self._max:
            oldest = next(iter(self._futures))
            fut = self._futures[oldest]
            if not fut.done():
                fut.cancel()
            del self._futures[oldest]
