"""A second process that works in step with this one, for row-split gradient steps.

Threads cannot split a small network's gradient step: its ~30 numpy calls per step each take a
few µs, and the two threads spend their time handing the GIL back and forth (measured here: a
DQN CartPole step split over two threads took 1095 µs against 871 µs on one). A forked process
has an interpreter of its own. It shares with this one only what lives in memory mapped for both
(:func:`shared_array`: the networks' parameters, its own gradient buffer, its input rows), and
the two meet at spin barriers on counters in that memory, which cost ~1 µs instead of a thread
wake-up's ~25 µs.

Protocol: :meth:`ForkedLane.post` hands the worker a job number; the worker runs
``work(lane, job)`` (the agent's code, on the agent's state as it was at the fork, plus the
shared memory), both sides call :meth:`ForkedLane.barrier` the same number of times, and
:meth:`ForkedLane.wait` returns once the worker has finished. An exception in the worker is
re-raised here as a ``RuntimeError`` carrying its traceback; a worker that dies, or a parent
that dies, is noticed by the other side. Linux (``os.fork``) only.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from rlnn.module import Module, move_parameters
from rlnn.optim import Optimizer, part_slice, polyak_arrays

# Control block: one int64 per 64-byte cache line, so the two processes' counters never share a line.
_JOB, _ARG, _DONE, _COUNT0, _COUNT1, _ERROR, _ABORT = (8 * i for i in range(7))
_STOP = -1
_SPIN_SECONDS = 2e-3     # spin this long before polling with sleeps (a barrier normally clears in µs)
_POLL_SECONDS = 1e-4


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


def can_split(workers: int, config: Any, batches: list[Any]) -> bool:
    """Whether a round of ``batches`` can be split over this process and a forked one: two
    lanes, ``os.fork``, and full batches no more numerous than the config's round."""
    return (workers > 1 and fork_available() and config.batch_size >= 2 and len(batches) <= config.gradient_steps
            and all(len(b.rewards) == config.batch_size for b in batches))


def rows_area(batch: Any, steps: int, rows: int) -> dict[str, np.ndarray]:
    """Shared arrays for ``rows`` rows of up to ``steps`` batches shaped like ``batch`` (a
    :class:`~agents.replay.Batch`): ``{field: (steps, rows, ...)}``."""
    return {f.name: shared_array((steps, rows, *getattr(batch, f.name).shape[1:]), getattr(batch, f.name).dtype)
            for f in dataclasses.fields(batch)}


def write_rows(area: dict[str, np.ndarray], batches: list[Any], start: int) -> None:
    """Rows ``start:`` of each batch into :func:`rows_area` ``area`` (the worker's share)."""
    for i, batch in enumerate(batches):
        for name, arr in area.items():
            arr[i] = getattr(batch, name)[start:]


class LaneBroken(RuntimeError):
    """The other process failed or stopped in the middle of a job."""


class ForkedLane:
    """A worker process forked now, running ``work(lane, job)`` for every :meth:`post`.

    ``work`` runs in the child with ``lane.index == 1``; the parent is lane 0. The child ignores
    SIGINT (Ctrl-C is the parent's to handle) and exits with its parent.
    """

    def __init__(self, work: Callable[[ForkedLane, int], None]) -> None:
        if not fork_available():
            raise RuntimeError("a forked lane needs os.fork (Linux)")
        self._ctrl = shared_array(8 * 7, np.int64)
        self._message = shared_array(8192, np.uint8)
        self._barriers = 0
        self._parent = os.getpid()
        # The jobs posted so far, read before the fork: the parent may post the first job
        # before the child has run a single line.
        self._jobs_at_fork = int(self._ctrl[_JOB])
        pid = os.fork()
        if pid == 0:  # pragma: no cover (runs in the child; its effects are tested through the parent)
            self.index = 1
            self._serve(work)
        self.index = 0
        self.pid = pid

    # -- both sides ----------------------------------------------------------------------------
    def barrier(self) -> None:
        """Wait until the other process has called ``barrier`` as many times as this one."""
        self._barriers += 1
        mine, theirs = (_COUNT0, _COUNT1) if self.index == 0 else (_COUNT1, _COUNT0)
        ctrl = self._ctrl
        ctrl[mine] = self._barriers
        target = self._barriers
        if ctrl[theirs] >= target:
            return
        self._wait_until(lambda: ctrl[theirs] >= target)

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        ctrl = self._ctrl
        deadline = time.perf_counter() + _SPIN_SECONDS
        while not ready():
            if ctrl[_ERROR] or ctrl[_ABORT]:
                raise LaneBroken(self._failure())
            if time.perf_counter() > deadline:
                time.sleep(_POLL_SECONDS)
                self._check_other_alive()

    def _check_other_alive(self) -> None:
        if self.index == 0:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid != 0:
                self.pid = 0
                # A worker that failed reports, then exits: if its exit is seen first, the
                # report is already in place.
                raise LaneBroken(self._failure() if self._ctrl[_ERROR] else "the forked lane's worker process died")
        elif os.getppid() != self._parent:
            os._exit(0)

    def _failure(self) -> str:
        if self._ctrl[_ERROR]:
            text = bytes(self._message).rstrip(b"\0").decode("utf-8", "replace")
            return f"the forked lane's worker failed:\n{text}"
        return "the other lane stopped in the middle of a job"

    # -- the parent ----------------------------------------------------------------------------
    def post(self, job: int) -> None:
        """Start ``work(lane, job)`` in the worker (``job`` >= 0)."""
        if self.pid == 0:
            raise LaneBroken("the forked lane is closed")
        self._ctrl[_ARG] = job
        self._ctrl[_JOB] += 1

    def wait(self) -> None:
        """Return when the worker has finished the job posted last; raise if it failed."""
        ctrl = self._ctrl
        self._wait_until(lambda: ctrl[_DONE] == ctrl[_JOB])

    def abort(self) -> None:
        """Called by the parent when its side of a job failed: stop the worker for good."""
        self._ctrl[_ABORT] = 1
        self.close(kill=True)

    def close(self, kill: bool = False) -> None:
        """Stop the worker and reap it (idempotent)."""
        if self.pid == 0:
            return
        if kill:
            os.kill(self.pid, signal.SIGKILL)
        else:
            self._ctrl[_ARG] = _STOP
            self._ctrl[_JOB] += 1
        os.waitpid(self.pid, 0)
        self.pid = 0

    def __del__(self) -> None:
        if getattr(self, "index", 1) == 0 and getattr(self, "pid", 0) and os.getpid() == self._parent:
            self.close(kill=True)

    # -- the child -----------------------------------------------------------------------------
    def _serve(self, work: Callable[[ForkedLane, int], None]) -> None:  # pragma: no cover (child)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        ctrl = self._ctrl
        seen = self._jobs_at_fork
        code = 0
        try:
            while True:
                self._wait_until(lambda seen=seen: ctrl[_JOB] != seen)
                seen = int(ctrl[_JOB])
                job = int(ctrl[_ARG])
                if job == _STOP:
                    break
                work(self, job)
                ctrl[_DONE] = seen
        except LaneBroken:
            pass      # the parent aborted; it kills this process
        except BaseException:  # noqa: BLE001 (reported to the parent, which raises it)
            text = traceback.format_exc().encode()[-len(self._message) + 1:]
            self._message[:len(text)] = np.frombuffer(text, dtype=np.uint8)
            ctrl[_ERROR] = 1
            code = 1
        finally:
            os._exit(code)


class SharedNet:
    """A network whose parameters (and its optimiser's state, if given) live in shared memory,
    with one gradient buffer per process: lane ``k`` back-propagates into ``grads[k]``, and
    ``grads[0]`` — the one the optimiser reads — receives the sum. Make it before the fork."""

    def __init__(self, module: Module, optimizer: Optimizer | None = None) -> None:
        params = module.parameters()
        n, dtype = sum(p.size for p in params), params[0].dtype
        self.module = module
        self.value = shared_array(n, dtype)
        self.grads = (shared_array(n, dtype), shared_array(n, dtype))
        move_parameters(module, self.value, self.grads[0])
        if optimizer is not None:
            optimizer.rebind(allocate=shared_array)

    def use_grads_of(self, lane: int) -> None:
        """Point the module's gradients at lane ``lane``'s buffer (in that lane's process)."""
        if not np.shares_memory(self.module.parameters()[0].grad, self.grads[lane]):
            move_parameters(self.module, self.value, self.grads[lane])

    def sum_grads(self, part: slice = slice(None)) -> np.ndarray:
        """``grads[0] += grads[1]`` over ``part`` of the flat vector; returns that part of the sum."""
        summed = self.grads[0][part]
        summed += self.grads[1][part]
        return summed

    def half(self, lane: int) -> slice:
        """Lane ``lane``'s half of the flat parameter vector (as ``Optimizer.update_part(lane, 2, …)`` cuts it)."""
        return part_slice(len(self.value), lane, 2)

    def polyak_from(self, source: SharedNet, tau: float, part: slice = slice(None)) -> None:
        """This (target) network's ``part`` of the flat vector moved toward ``source``'s: ``(1 − τ) θ' + τ θ``."""
        polyak_arrays(self.value[part], source.value[part], tau)
