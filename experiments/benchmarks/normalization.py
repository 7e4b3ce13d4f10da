"""Observation normalization where it matters: SAC on a badly scaled Pendulum, with and without.

    python -m experiments.benchmarks.normalization --steps 10000 --seeds 0-2 --jobs 2

A user's own task rarely has observations near unit scale. Here Pendulum-v1's observation
``(cos θ, sin θ, θ̇)`` reaches the agent as ``(50 cos θ + 200, 50 sin θ − 100, θ̇ / 50)``: the
same task, the same information, offset and scaled as sensor readings often are. SAC (the tuned
Pendulum config, through :func:`experiments.api.train` on an env factory) trains with
``normalize_observations`` off and on, each seed once per setting, runs side by side with one BLAS
thread each. The figure is the final policy's mean return over 20 deterministic episodes on
evaluation seeds that training never uses, per seed, on the same scaled env.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import gymnasium as gym
import numpy as np

SCALE = np.array([50.0, 50.0, 1 / 50], dtype=np.float32)
OFFSET = np.array([200.0, -100.0, 0.0], dtype=np.float32)


def scaled_pendulum() -> gym.Env:
    env = gym.make("Pendulum-v1")
    low, high = env.observation_space.low * SCALE + OFFSET, env.observation_space.high * SCALE + OFFSET
    space = gym.spaces.Box(np.minimum(low, high), np.maximum(low, high), dtype=np.float32)
    return gym.wrappers.TransformObservation(env, lambda obs: (obs * SCALE + OFFSET).astype(np.float32), space)


def one_run(job: tuple[bool, int, int]) -> dict:
    from experiments.api import evaluate, train

    normalize, seed, steps = job
    start = time.perf_counter()
    agent = train("sac", scaled_pendulum, steps, seed=seed, config={"normalize_observations": normalize},
                  tuned=True, eval_freq=0, verbose=False, lanes=1, blas_threads=1, progress=False)
    seconds = time.perf_counter() - start
    result = evaluate(agent, scaled_pendulum, episodes=20)
    return {"normalize_observations": normalize, "seed": seed, "steps": steps, "wall_s": seconds,
            "eval_mean_return": result.mean_return, "eval_std_return": result.std_return}


def seed_list(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    jobs = [(normalize, seed, args.steps) for seed in seed_list(args.seeds) for normalize in (False, True)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = []
        for r in pool.map(one_run, jobs):
            results.append(r)
            print(f"seed {r['seed']} normalize {r['normalize_observations']}: {r['eval_mean_return']:.1f} "
                  f"± {r['eval_std_return']:.1f} ({r['wall_s']:.0f} s)", flush=True)
    print(f"\nSAC on the scaled Pendulum, {args.steps} steps, final policy, 20 episodes on unseen seeds\n")
    print("| normalize_observations | per seed | mean | median |\n|---|---|---:|---:|")
    for normalize in (False, True):
        values = [r["eval_mean_return"] for r in results if r["normalize_observations"] == normalize]
        seeds = [r["seed"] for r in results if r["normalize_observations"] == normalize]
        per_seed = ", ".join(f"{s}: {v:.1f}" for s, v in zip(seeds, values))
        print(f"| {'on' if normalize else 'off'} | {per_seed} | {statistics.mean(values):.1f} | "
              f"{statistics.median(values):.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
