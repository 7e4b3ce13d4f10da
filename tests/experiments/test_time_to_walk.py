"""Time to walk is read off a run's evaluation records: the first evaluation that walks, and
whether every later one does too."""

from __future__ import annotations

from experiments.benchmarks.time_to_walk import parse_seeds, time_to_walk, walk_record


def record(step: int, finished: int, fell: int, *, episodes: int = 20, time: float = 0.0,
           eval_seconds: float = 2.0) -> dict:
    infos = [{"finished": i < finished, "fell": finished <= i < finished + fell} for i in range(episodes)]
    return {"step": step, "time": time, "unix_time": 100.0 + time + step / 1000, "eval_seconds": eval_seconds,
            "infos": infos}


def test_walking_needs_enough_finishes_and_few_enough_falls():
    assert walk_record(record(0, 18, 1), 18, 1) == (18, 1, True)
    assert walk_record(record(0, 18, 2), 18, 1) == (18, 2, False)
    assert walk_record(record(0, 17, 0), 18, 1) == (17, 0, False)


def test_the_first_walking_evaluation_counts_and_evaluation_time_is_taken_out_of_training_time():
    records = [record(5000, 0, 20, time=10.0), record(10000, 19, 0, time=25.0), record(15000, 20, 0, time=40.0)]
    result = time_to_walk(records, started=100.0, finish=18, falls=1)
    assert result["walked"] and result["steps"] == 10000 and result["stays_walking"]
    assert result["train_seconds"] == 25.0 - 2.0          # the evaluation at 5000 took 2 s
    assert result["seconds"] == records[1]["unix_time"] - 100.0


def test_a_run_that_falls_back_does_not_stay_walking_and_one_that_never_walks_says_so():
    records = [record(5000, 19, 0), record(10000, 3, 10), record(15000, 20, 0)]
    assert time_to_walk(records, 0.0, 18, 1)["stays_walking"] is False
    never = time_to_walk([record(5000, 2, 0)], 0.0, 18, 1)
    assert never["walked"] is False and never["steps"] is None


def test_seed_lists():
    assert parse_seeds("0-2") == [0, 1, 2]
    assert parse_seeds("0,3-4") == [0, 3, 4]
