"""Where the time of a training run goes: cProfile over a short run of a benchmark task.

    python -m experiments.benchmarks.profile_run --task sac-pendulum --steps 3000 --threads 1

Runs the task of :mod:`experiments.benchmarks.compare_sb3` with the same (zoo) hyperparameters
for ``--steps`` env steps past ``learning_starts``, under cProfile, and prints a Markdown table
of the functions with the most time of their own (numpy's C functions show up under the Python
function that called them: ``_matmul`` is the forward and input-gradient matmuls,
``Linear.backward`` the weight-gradient matmul and the bias sum, ``_update`` the Adam
arithmetic). Times are per gradient update; cProfile adds ~1 µs per Python call, so the total is
somewhat above an unprofiled run's.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path


def profile(task: str, steps: int, threads: int, lanes: int, top: int) -> str:
    import gymnasium as gym

    import agents
    from agents.loop import OffPolicyTrainer, RunSettings
    from experiments.benchmarks.compare_sb3 import TASKS, zoo_hyperparameters

    spec = TASKS[task]
    hp = {**zoo_hyperparameters(task), **spec["rlnn_overrides"]}
    env = gym.make(spec["env_id"])
    agent = agents.ALGORITHMS[spec["algo"]](env.observation_space, env.action_space, hp, seed=0)
    total = hp["learning_starts"] + steps
    trainer = OffPolicyTrainer(agent, spec["env_id"], RunSettings(total, 0, progress=False, blas_threads=threads,
                                                                  lanes=lanes))
    trainer.run(stop_at=hp["learning_starts"])       # fill the replay memory unprofiled
    updates_before = agent.n_updates
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    trainer.run()
    profiler.disable()
    wall = time.perf_counter() - start
    updates = max(agent.n_updates - updates_before, 1)
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        rows.append((own, cumulative, calls, _where(filename, line, name)))
    rows.sort(reverse=True)
    total_own = sum(r[0] for r in rows)
    heading = (f"{task}: {steps} env steps, {updates} updates, BLAS threads {threads}, lanes {lanes}; "
               f"{wall:.2f} s profiled = {wall / updates * 1e6:.0f} µs per update")
    lines = [heading,
             "", "| function | own µs / update | share | calls / update |", "|---|---:|---:|---:|"]
    for own, _, calls, where in rows[:top]:
        lines.append(f"| {where} | {own / updates * 1e6:.0f} | {own / total_own:.0%} | {calls / updates:.1f} |")
    return "\n".join(lines)


def _where(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name                                   # a C function, e.g. {method 'reduce' ...}
    parts = Path(filename).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else filename
    return f"{short}:{line} {name}"


def main(argv: list[str] | None = None) -> int:
    from experiments.benchmarks.compare_sb3 import TASKS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=list(TASKS), default="sac-pendulum")
    parser.add_argument("--steps", type=int, default=2000, help="env steps past learning_starts")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    print(profile(args.task, args.steps, args.threads, args.lanes, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
