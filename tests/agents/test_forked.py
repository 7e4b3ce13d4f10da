"""The process group: jobs, barriers, results through shared memory, failures on either side,
and waits that sleep instead of spinning."""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pytest

from agents.forked import _ERROR, LaneBroken, ProcessGroup, fork_available, shared_array

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs os.fork")


def test_jobs_run_in_step_through_barriers_and_shared_memory():
    data = shared_array((3, 4), np.float64)
    pids = shared_array(1, np.int64)

    def work(group: ProcessGroup, job: int) -> None:   # runs in the child
        pids[0] = os.getpid()
        for step in range(3):
            group.barrier()                # the parent has written row `step`
            data[step] += job              # the child's part of the step
            group.barrier()

    group = ProcessGroup(2, work)

    def own(job: int) -> None:
        for step in range(3):
            data[step] = step              # the parent's part, before the child reads it
            group.barrier()
            group.barrier()
            assert np.all(data[step] == step + job)

    for job in (1, 10):
        group.run(job, lambda job=job: own(job))
    assert pids[0] not in (0, os.getpid())
    group.close()
    assert not any(group.pids)
    group.close()                           # idempotent
    with pytest.raises(LaneBroken, match="closed"):
        group.run(1, lambda: None)


def test_three_processes_meet_at_each_barrier():
    seen = shared_array(3, np.int64)

    def work(group: ProcessGroup, job: int) -> None:
        seen[group.rank] = job
        group.barrier()
        assert seen.min() == job          # every rank wrote before anyone passed

    group = ProcessGroup(3, work)

    def own() -> int:
        seen[0] = 5
        group.barrier()
        return int(seen.sum())

    assert group.run(5, own) == 15
    group.close()


def test_a_failure_in_the_worker_reaches_the_parent_with_its_traceback():
    def work(group: ProcessGroup, job: int) -> None:
        group.barrier()
        raise ValueError(f"bad job {job}")

    group = ProcessGroup(2, work)

    def own() -> None:
        group.barrier()
        group.barrier()                    # the worker never arrives: it failed

    with pytest.raises(LaneBroken, match="ValueError: bad job 7"):
        group.run(7, own)
    assert not any(group.pids)             # stopped for good


def test_a_dead_worker_is_noticed():
    group = ProcessGroup(2, lambda group, job: os._exit(3))
    with pytest.raises(LaneBroken, match="died"):
        group.run(0, lambda: None)


def test_a_failed_worker_seen_dead_first_still_reports_its_error():
    """The worker reports its failure and exits; a parent that notices the exit before the
    report must still raise the worker's error, not just "died"."""
    group = ProcessGroup(2, lambda group, job: (_ for _ in ()).throw(KeyError(f"job {job}")))
    group._ctrl[0] = 4
    group._arrivals += 1
    group._ctrl[3 * 8] = group._arrivals          # post job 4 by hand, without waiting
    group._wakeups[1].release()
    deadline = time.monotonic() + 10
    while not group._ctrl[_ERROR] and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)                                                 # and the worker has exited
    with pytest.raises(LaneBroken, match="KeyError: 'job 4'"):
        group._check_others_alive()
    group.close(kill=True)


def test_a_waiting_process_sleeps_instead_of_spinning():
    """While the parent is busy elsewhere for half a second, the worker waiting at the barrier
    uses almost no CPU: it sleeps on its semaphore after a short spin."""
    usage = shared_array(1, np.float64)

    def work(group: ProcessGroup, job: int) -> None:
        start = resource.getrusage(resource.RUSAGE_SELF)
        group.barrier()
        end = resource.getrusage(resource.RUSAGE_SELF)
        usage[0] = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)

    group = ProcessGroup(2, work)

    def own() -> None:
        time.sleep(0.5)
        group.barrier()

    group.run(0, own)
    group.close()
    assert usage[0] < 0.1, f"the waiting worker used {usage[0]:.3f} s of CPU in 0.5 s"
