"""The network microbenchmark's bookkeeping (no PyTorch needed)."""

from __future__ import annotations

import pytest

from experiments.benchmarks import bench_nn


def _row(rlnn_us: float, numpy_us: float) -> dict:
    return {"config": "small", "batch": 64, "sizes": [4, 64, 2], "threads": 1, "rounds": 10,
            "us": {"rlnn": rlnn_us, "numpy": numpy_us}, "ratio": {"numpy": rlnn_us / numpy_us}}


def test_rounds_merge_into_medians_and_torch_is_paired_round_by_round():
    rounds = [[_row(100, 200)], [_row(300, 400)], [_row(110, 210)]]
    torch_rounds = [{("small", 1): 400.0}, {("small", 1): 600.0}, {("small", 1): 420.0}]
    (row,) = bench_nn.merge_rounds(rounds, torch_rounds)
    assert row["us"] == {"rlnn": 110, "numpy": 210, "torch": 420.0} and row["rounds"] == 30
    assert row["ratio"]["numpy"] == pytest.approx(110 / 210)
    # per round 0.25, 0.5, 0.262: the slow middle round (both slow) does not skew the ratio
    assert row["ratio"]["torch"] == pytest.approx(110 / 420)
    (alone,) = bench_nn.merge_rounds(rounds)
    assert "torch" not in alone["us"]


def test_a_short_run_times_rlnn_and_numpy():
    (row,) = bench_nn.run({"small": (8, [4, 16, 2])}, repeats=5, threads=[1], budget_seconds=0.05)
    assert row["us"]["rlnn"] > 0 and row["us"]["numpy"] > 0 and row["ratio"]["numpy"] > 0


def test_thread_limit_goes_through_the_projects_blas_helper(monkeypatch):
    import contextlib

    calls = []

    @contextlib.contextmanager
    def recording(threads):
        calls.append(threads)
        yield
    monkeypatch.setattr(bench_nn, "blas_threads", recording)
    with bench_nn.thread_limit(1):
        pass
    assert calls == [1]
    from agents.blas import blas_threads
    assert blas_threads.__module__ == "agents.blas" and not hasattr(bench_nn, "threadpool_limits")
