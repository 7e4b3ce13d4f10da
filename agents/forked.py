"""Processes that work in step: shared memory, forked workers and barriers that do not burn a core.

Threads cannot split a small network's gradient step: its ~30 numpy calls each take a few µs,
and two threads spend their time handing the GIL back and forth (measured here: a DQN CartPole
step split over two threads took 1095 µs against 871 µs on one). A forked process has an
interpreter of its own. It shares with its parent only what lives in memory mapped for both
(:func:`shared_array`), and the processes meet at barriers on counters in that memory.

A barrier first spins for a few tens of µs (the other side normally arrives within that, and a
wake-up from the OS costs about as much), then sleeps on a semaphore that the last process to
arrive posts. Spinning longer costs nothing on a quiet machine, but when another program keeps
a core busy, the process we wait for may not be running at all: a spin then takes the core
from it. Sleeps time out (1 ms, doubling to 50 ms) to notice a worker or a parent that died.

Protocol: :meth:`ProcessGroup.run` hands every worker a job number and runs the parent's own
share; the workers run ``work(group, job)``; each side calls :meth:`ProcessGroup.barrier` the same
number of times; ``run`` returns once every process has finished. An exception in a worker is
raised in the parent as :class:`LaneBroken` with the worker's traceback. Linux (``os.fork``) only.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

# Control block: one int64 per 64-byte cache line, so two processes' counters never share a line.
_LINE = 8
_JOB, _ERROR, _ABORT = 0, _LINE, 2 * _LINE
_COUNTS = 3 * _LINE                        # barrier arrivals of rank r at _COUNTS + r * _LINE
_STOP = -1
SPIN_SECONDS = 50e-6                       # spin this long before sleeping on the semaphore
_FIRST_SLEEP, _LONGEST_SLEEP = 1e-3, 50e-3


def shared_array(shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """A zeroed array in anonymous shared memory: a process forked afterwards sees (and writes)
    the same bytes."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    buffer = mmap.mmap(-1, max(count * dtype.itemsize, 1))
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


def fork_available() -> bool:
    return hasattr(os, "fork")


class LaneBroken(RuntimeError):
    """Another process of the group failed or stopped in the middle of a job."""


class ProcessGroup:
    """This process (rank 0) and ``size − 1`` workers forked now, each running ``work(group,
    job)`` for every :meth:`run`. Workers ignore SIGINT and SIGTERM (stopping is the parent's
    to handle) and exit with their parent."""

    def __init__(self, size: int, work: Callable[[ProcessGroup, int], None]) -> None:
        if not fork_available():
            raise RuntimeError("a process group needs os.fork (Linux)")
        if size < 2:
            raise ValueError(f"a process group needs at least 2 processes, got {size}")
        self.size = size
        self._ctrl = shared_array(_COUNTS + 2 * size * _LINE, np.int64)
        self._waiting = self._ctrl[_COUNTS + size * _LINE::_LINE][:size]   # 1 while rank r sleeps
        self._message = shared_array(8192, np.uint8)
        context = multiprocessing.get_context("fork")
        self._wakeups = [context.Semaphore(0) for _ in range(size)]
        self._arrivals = 0
        self._parent = os.getpid()
        self.rank = 0
        self.pids: list[int] = []
        for rank in range(1, size):
            pid = os.fork()
            if pid == 0:  # pragma: no cover (runs in the child; tested through the parent)
                self.rank = rank
                self.pids = []
                self._serve(work)
            self.pids.append(pid)
        self._others = [_COUNTS + r * _LINE for r in range(size) if r != self.rank]

    # -- every process ---------------------------------------------------------------------
    def barrier(self) -> None:
        """Wait until every process of the group has called ``barrier`` as often as this one."""
        self._arrivals += 1
        target, ctrl = self._arrivals, self._ctrl
        ctrl[_COUNTS + self.rank * _LINE] = target
        for rank in range(self.size):
            if rank != self.rank and self._waiting[rank]:
                self._waiting[rank] = 0
                self._wakeups[rank].release()
        others = self._others
        if all(ctrl[i] >= target for i in others):
            return
        self._wait_until(lambda: all(ctrl[i] >= target for i in others))

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        ctrl = self._ctrl
        deadline = time.perf_counter() + SPIN_SECONDS
        while time.perf_counter() < deadline:
            if ready():
                return
            if ctrl[_ERROR] or ctrl[_ABORT]:
                raise LaneBroken(self._failure())
        sleep, me = _FIRST_SLEEP, self.rank
        while True:
            self._waiting[me] = 1
            if ready():
                self._waiting[me] = 0
                return
            self._wakeups[me].acquire(timeout=sleep)
            self._waiting[me] = 0
            if ready():
                return
            if ctrl[_ERROR] or ctrl[_ABORT]:
                raise LaneBroken(self._failure())
            self._check_others_alive()
            sleep = min(2 * sleep, _LONGEST_SLEEP)

    def _wake_all(self) -> None:
        for semaphore in self._wakeups:
            semaphore.release()

    def _check_others_alive(self) -> None:
        if self.rank == 0:
            for pid in self.pids:
                if pid and os.waitpid(pid, os.WNOHANG)[0] != 0:
                    self.pids = [p if p != pid else 0 for p in self.pids]
                    # A worker that failed reports, then exits: if its exit is seen first, the
                    # report is already in place.
                    raise LaneBroken(self._failure() if self._ctrl[_ERROR] else "a worker process died")
        elif os.getppid() != self._parent:
            os._exit(0)

    def _failure(self) -> str:
        if self._ctrl[_ERROR]:
            text = bytes(self._message).rstrip(b"\0").decode("utf-8", "replace")
            return f"a worker process failed:\n{text}"
        return "another process stopped in the middle of a job"

    # -- the parent ------------------------------------------------------------------------
    def run(self, job: int, own: Callable[[], T]) -> T:
        """Start ``work(group, job)`` in every worker (``job`` >= 0), run ``own()`` here and
        return its result once every worker has finished. If any side fails, the workers are
        stopped for good and the error is raised here."""
        if not self.pids or not all(self.pids):
            raise LaneBroken("the process group is closed")
        self._ctrl[_JOB] = job
        try:
            self.barrier()                         # the job is posted
            result = own()
            self.barrier()                         # every process has finished it
        except BaseException:
            self.abort()
            raise
        return result

    def abort(self) -> None:
        """Stop the workers at once (after a failure on this side)."""
        self._ctrl[_ABORT] = 1
        self._wake_all()
        self.close(kill=True)

    def close(self, kill: bool = False) -> None:
        """Stop the workers and reap them (idempotent)."""
        if self.rank != 0 or not any(self.pids):
            return
        if not kill:
            self._ctrl[_JOB] = _STOP
            try:
                self.barrier()
            except LaneBroken:
                kill = True
        for pid in self.pids:
            if pid:
                if kill:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                os.waitpid(pid, 0)
        self.pids = [0] * len(self.pids)

    def __del__(self) -> None:
        if getattr(self, "rank", 1) == 0 and any(getattr(self, "pids", ())) and os.getpid() == self._parent:
            self.close(kill=True)

    # -- a worker --------------------------------------------------------------------------
    def _serve(self, work: Callable[[ProcessGroup, int], None]) -> None:  # pragma: no cover (child)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self._others = [_COUNTS + r * _LINE for r in range(self.size) if r != self.rank]
        code = 0
        try:
            while True:
                self.barrier()                     # a job is posted
                job = int(self._ctrl[_JOB])
                if job == _STOP:
                    break
                work(self, job)
                self.barrier()                     # this process has finished it
        except LaneBroken:
            pass      # the parent aborted; it kills this process
        except BaseException:  # noqa: BLE001 (reported to the parent, which raises it)
            text = traceback.format_exc().encode()[-len(self._message) + 1:]
            self._message[:len(text)] = np.frombuffer(text, dtype=np.uint8)
            self._ctrl[_ERROR] = 1
            self._wake_all()
            code = 1
        finally:
            os._exit(code)
