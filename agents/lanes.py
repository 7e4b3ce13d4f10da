"""Side-by-side execution of independent per-network work (one lane per core).

The twin critics of SAC and TD3 never read each other's state during an update: each does
its own forward, backward, Adam step and Polyak update. numpy releases the GIL inside
matmuls and element-wise loops, so two Python threads that each drive one critic keep two
cores busy with *all* of that work, where a second BLAS thread only speeds up the matmuls
(measured in ``experiments/benchmarks``).

While lanes run, BLAS is pinned to one thread per caller: two callers each starting two
BLAS threads would put four spinning threads on two cores, which is many times slower.
Results do not depend on the number of lanes: each lane computes exactly what the serial
loop computes, on its own arrays.

Work too fine-grained for threads (DQN's small steps, where the GIL hand-overs between ~30 short
numpy calls cost more than they save) can use :meth:`Lanes.forked` instead: a worker process
(:mod:`agents.forked`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from .forked import ForkedLane

T = TypeVar("T")


class Lanes:
    """``map(fn, items)`` on up to ``workers`` threads (the caller's thread is one of them).

    ``workers=1`` (the default) is a plain loop. Worker threads are created on first use.
    """

    def __init__(self, workers: int = 1) -> None:
        self.workers = 1
        self._pool: ThreadPoolExecutor | None = None
        self._forked: ForkedLane | None = None
        self._blas: Any = None
        self.set_workers(workers)

    def set_workers(self, workers: int) -> None:
        workers = int(workers)
        if workers < 1:
            raise ValueError(f"lanes need at least one worker, got {workers}")
        if workers != self.workers:
            self.close()
        self.workers = workers

    def map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``[fn(x) for x in items]``, the items spread over the lanes; order is kept and the
        first exception raised by any ``fn`` is re-raised here."""
        if self.workers == 1 or len(items) < 2:
            return [fn(x) for x in items]
        with self.pinned():
            # Items 1.. go to the pool, item 0 runs here; with more items than lanes the pool queues them.
            futures = [self._executor().submit(fn, x) for x in items[1:]]
            first = fn(items[0])
            return [first, *(f.result() for f in futures)]

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start ``fn(*args)`` on a lane and return its future; with one worker it runs here,
        now. Only inside :meth:`pinned` may the caller use BLAS meanwhile."""
        if self.workers == 1:
            done: Future[T] = Future()
            try:
                done.set_result(fn(*args))
            except Exception as exc:  # noqa: BLE001 (handed to the caller by .result(), as a pool does)
                done.set_exception(exc)
            return done
        return self._executor().submit(fn, *args)

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """BLAS at one thread per caller for the duration (a no-op with one worker)."""
        if self.workers == 1:
            yield
            return
        blas = self._blas_controllers()
        previous = _pin_blas(blas, 1)
        try:
            yield
        finally:
            _pin_blas(blas, previous)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.workers - 1, thread_name_prefix="rlnn-lane")
        return self._pool

    def _blas_controllers(self) -> list[Any]:
        if self._blas is None:
            try:
                from threadpoolctl import ThreadpoolController
                self._blas = ThreadpoolController().select(user_api="blas").lib_controllers
            except ImportError:
                self._blas = []
        return self._blas

    def forked(self, work: Callable[[ForkedLane, int], None]) -> ForkedLane:
        """The lanes' worker process (:mod:`agents.forked`), forked on first use to run ``work``
        (later calls return the same worker, whatever ``work`` they pass). BLAS is at one thread
        while forking, so the child starts without a thread pool it cannot use."""
        if self._forked is None or self._forked.pid == 0:
            with self.pinned():
                self._forked = ForkedLane(work)
        return self._forked

    def run_forked(self, work: Callable[[ForkedLane, int], None], job: int, own: Callable[[ForkedLane], T]) -> T:
        """Post ``job`` to the worker process (:meth:`forked` with ``work``), run ``own(lane)``,
        this process's side of it, with BLAS at one thread (the other core is the worker's), and
        return its result once the worker has finished too. If either side fails, the worker is
        stopped (the next call forks a fresh one) and the error raised here."""
        lane = self.forked(work)
        lane.post(job)
        try:
            with self.pinned():
                result = own(lane)
            lane.wait()
        except BaseException:
            lane.abort()
            raise
        return result

    def close(self) -> None:
        """Stop the worker threads and the worker process, if any."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._forked is not None:
            self._forked.close()
            self._forked = None


def _pin_blas(controllers: list[Any], threads: int | list[int]) -> list[int]:
    """Set every BLAS library to ``threads`` (one number, or one per library); returns the
    previous settings."""
    previous = [c.num_threads for c in controllers]
    wanted = threads if isinstance(threads, list) else [threads] * len(controllers)
    for c, n, old in zip(controllers, wanted, previous):
        if n != old:
            c.set_num_threads(n)
    return previous

