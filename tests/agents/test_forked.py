"""The forked lane: jobs, barriers, results through shared memory, and failures on either side."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from agents.forked import _ERROR, ForkedLane, LaneBroken, fork_available, shared_array

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs os.fork")


def test_jobs_run_in_step_through_barriers_and_shared_memory():
    data = shared_array((3, 4), np.float64)
    pids = shared_array(1, np.int64)

    def work(lane: ForkedLane, job: int) -> None:   # runs in the child
        pids[0] = os.getpid()
        for step in range(3):
            lane.barrier()                 # the parent has written row `step`
            data[step] += job              # the child's part of the step
            lane.barrier()

    lane = ForkedLane(work)
    for job in (1, 10):
        lane.post(job)
        for step in range(3):
            data[step] = step              # the parent's part, before the child reads it
            lane.barrier()
            lane.barrier()
            assert np.all(data[step] == step + job)
        lane.wait()
    assert pids[0] not in (0, os.getpid())
    lane.close()
    assert lane.pid == 0
    lane.close()                           # idempotent
    with pytest.raises(LaneBroken, match="closed"):
        lane.post(1)


def test_a_failure_in_the_worker_reaches_the_parent_with_its_traceback():
    def work(lane: ForkedLane, job: int) -> None:
        lane.barrier()
        raise ValueError(f"bad job {job}")

    lane = ForkedLane(work)
    lane.post(7)
    lane.barrier()
    with pytest.raises(LaneBroken, match="ValueError: bad job 7"):
        lane.barrier()                     # the worker never arrives: it failed
    lane.close()


def test_a_dead_worker_is_noticed():
    lane = ForkedLane(lambda lane, job: os._exit(3))
    lane.post(0)
    with pytest.raises(LaneBroken, match="died"):
        lane.wait()
    lane.close()


def test_a_failed_worker_seen_dead_first_still_reports_its_error():
    """The worker reports its failure and exits; a parent that notices the exit before the
    report (between two polls) must still raise the worker's error, not just "died"."""
    lane = ForkedLane(lambda lane, job: (_ for _ in ()).throw(KeyError(f"job {job}")))
    lane.post(4)
    deadline = time.monotonic() + 10
    while not lane._ctrl[_ERROR] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)                                                 # and the worker has exited
    with pytest.raises(LaneBroken, match="KeyError: 'job 4'"):
        lane._check_other_alive()
    lane.close()
