"""How much could splitting each gradient step's rows over the two cores gain, at most?

    python -m experiments.benchmarks.split_bound --updates 300

For each benchmark task (zoo hyperparameters, as in :mod:`experiments.benchmarks.compare_sb3`),
the time per gradient update on synthetic minibatches of

* ``1 thread``: the whole batch, BLAS at one thread;
* ``2 BLAS threads``: the whole batch, BLAS at two threads (numpy's own parallelism);
* ``2 lanes``: the whole batch through a two-process row split, the setting ``2L`` of the
  benchmark: each batch's rows split over this process and a forked worker
  (:class:`agents.parallel.RowSplit`), BLAS at one thread each;
* ``2 processes, B/2 each``: two forked copies of the agent, each training on half the batch at
  the same time, BLAS at one thread each. This is an upper bound of row-split data parallelism
  over two cores without the GIL: no gradient is exchanged and each copy still does the whole
  Adam step, so a real split would add a gradient sum and barriers and save half of the Adam work.
  The figure is the slower of the two copies.

Medians over ``--repeats`` alternations of the settings, so slow phases of the machine hit all
of them. Each measurement runs in a fresh process: OpenBLAS's idle threads from a "2 BLAS
threads" measurement would otherwise spin on the core the next setting's worker needs. DQN
trains through ``train_round`` (its zoo round: ``gradient_steps`` batches), so its per-update
time includes its share of the round's target-network pass.
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import time
from typing import Any

import numpy as np

SETTINGS = ("1 thread", "2 BLAS threads", "2 lanes", "2 processes, B/2 each")


def _synthetic_batches(agent: Any, env: Any, batch_size: int, count: int, rng: np.random.Generator) -> list[Any]:
    from agents.replay import Batch
    obs_dim = env.observation_space.shape[0]
    space = env.action_space

    def one() -> Batch:
        if hasattr(space, "n"):
            actions = rng.integers(0, space.n, batch_size)
        else:
            actions = rng.uniform(space.low, space.high, (batch_size, *space.shape)).astype(np.float32)
        return Batch(obs=rng.standard_normal((batch_size, obs_dim)).astype(np.float32), actions=actions,
                     rewards=rng.standard_normal(batch_size).astype(np.float32),
                     next_obs=rng.standard_normal((batch_size, obs_dim)).astype(np.float32),
                     terminated=np.zeros(batch_size, np.float32), discount=np.full(batch_size, 0.99, np.float32))
    return [one() for _ in range(count)]


def _trainer(task: str, batch_size: int) -> tuple[Any, list[Any]]:
    """An agent of ``task`` with the batch size changed, and one round of synthetic batches."""
    import gymnasium as gym

    import agents
    from experiments.benchmarks.compare_sb3 import TASKS, zoo_hyperparameters

    spec = TASKS[task]
    hp = {**zoo_hyperparameters(task), **spec["rlnn_overrides"], "batch_size": batch_size}
    env = gym.make(spec["env_id"])
    agent = agents.ALGORITHMS[spec["algo"]](env.observation_space, env.action_space, hp, seed=0)
    steps = int(hp.get("gradient_steps", 1))
    return agent, _synthetic_batches(agent, env, batch_size, steps, np.random.default_rng(0))


def _ms_per_update(agent: Any, batches: list[Any], updates: int, reducer: Any = None) -> float:
    from agents.parallel import SERIAL

    reducer = reducer or SERIAL
    rounds = max(1, updates // len(batches))

    def one_round() -> None:
        reducer.run_round(agent, batches)

    one_round()  # warm-up: first-touch allocations, BLAS buffers
    start = time.perf_counter()
    for _ in range(rounds):
        one_round()
    return (time.perf_counter() - start) / (rounds * len(batches)) * 1e3


def measure(task: str, setting: str, updates: int) -> float:
    """Milliseconds per update of ``task`` under ``setting`` (one of :data:`SETTINGS`)."""
    from threadpoolctl import threadpool_limits

    from experiments.benchmarks.compare_sb3 import TASKS
    from experiments.configs import tuned_config

    batch_size = int(tuned_config(TASKS[task]["algo"], TASKS[task]["env_id"])["hyperparameters"]["batch_size"])
    if setting != "2 processes, B/2 each":
        from agents.parallel import SERIAL, RowSplit

        agent, batches = _trainer(task, batch_size)
        reducer = RowSplit(2) if setting == "2 lanes" else SERIAL
        try:
            with threadpool_limits(2 if setting == "2 BLAS threads" else 1):
                return _ms_per_update(agent, batches, updates, reducer)
        finally:
            reducer.close()
    agent, batches = _trainer(task, batch_size // 2)
    shared = np.frombuffer(mmap.mmap(-1, 16), dtype=np.float64)  # the child's figure comes back here
    with threadpool_limits(1):
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child)
            try:
                shared[1] = _ms_per_update(agent, batches, updates)
            finally:
                os._exit(0)
        shared[0] = _ms_per_update(agent, batches, updates)
        os.waitpid(pid, 0)
    return float(shared.max())


def measure_in_subprocess(task: str, setting: str, updates: int) -> float:
    """:func:`measure` in a fresh Python process."""
    from experiments.benchmarks.processes import last_line, run_python

    return float(last_line(run_python(["-m", "experiments.benchmarks.split_bound", "--one", task, setting,
                                       "--updates", str(updates)])))


def main(argv: list[str] | None = None) -> None:
    from experiments.benchmarks.compare_sb3 import TASKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--updates", type=int, default=300, help="updates timed per setting and repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("TASK", "SETTING"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:      # a single measurement, in the fresh process main() started for it
        print(measure(args.one[0], args.one[1], args.updates))
        return
    tasks = args.tasks.split(",")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for task in tasks:
            for setting in SETTINGS:
                times.setdefault((task, setting), []).append(measure_in_subprocess(task, setting, args.updates))
    print(f"ms per update, median of {args.repeats} (load average {os.getloadavg()[0]:.2f} at the end)\n")
    print("| task | " + " | ".join(SETTINGS) + " | best of 2 cores / 1 thread |")
    print("|---|" + "---:|" * (len(SETTINGS) + 1))
    for task in tasks:
        med = [statistics.median(times[(task, s)]) for s in SETTINGS]
        print(f"| {task} | " + " | ".join(f"{m:.3f}" for m in med) + f" | {min(med[1:]) / med[0]:.2f} |")


if __name__ == "__main__":
    main()
