"""Speed of the Pymunk walker beside Gymnasium's BipedalWalker-v3, on this machine, in one run.

Run as ``python -m experiments.benchmarks.bench_walker`` (``--json`` for machine-readable output,
``--repeats``/``--steps`` to trade time for precision). Prints a Markdown table of medians over
the repeats: env steps per second with random actions (resetting on episode end), reset time,
``rgb_array`` frames per second (render only) and step+render frames per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import gymnasium as gym
import numpy as np

import envs  # noqa: F401  (registers rlnn/Walker-v0 and rlnn/WalkerRough-v0)

IDS = ["rlnn/Walker-v0", "rlnn/WalkerRough-v0", "BipedalWalker-v3"]


def steps_per_second(env_id: str, steps: int, seed: int) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def reset_ms(env_id: str, resets: int, seed: int) -> float:
    env = gym.make(env_id)
    times = []
    for i in range(resets):
        start = time.perf_counter()
        env.reset(seed=seed + i)
        times.append(time.perf_counter() - start)
    env.close()
    return 1e3 * statistics.median(times)


def frames_per_second(env_id: str, frames: int, seed: int) -> tuple[float, float]:
    """(render-only fps, step+render fps) with ``render_mode="rgb_array"``."""
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(20):  # leave the start pose, warm up
        env.step(env.action_space.sample())
    start = time.perf_counter()
    for _ in range(frames):
        env.render()
    render_only = frames / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(frames):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        env.render()
        if terminated or truncated:
            env.reset()
    both = frames / (time.perf_counter() - start)
    env.close()
    return render_only, both


def run(repeats: int, steps: int, frames: int, resets: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, list[float]]] = {
        i: {"steps_per_s": [], "reset_ms": [], "render_fps": [], "step_render_fps": []} for i in IDS
    }
    # Interleave the environments in every repeat so background load hits all alike.
    for r in range(repeats):
        for env_id in IDS:
            res = results[env_id]
            res["steps_per_s"].append(steps_per_second(env_id, steps, seed=r))
            res["reset_ms"].append(reset_ms(env_id, resets, seed=100 * r))
            render_only, both = frames_per_second(env_id, frames, seed=r)
            res["render_fps"].append(render_only)
            res["step_render_fps"].append(both)
    return {env_id: {k: statistics.median(v) for k, v in res.items()} for env_id, res in results.items()}


def markdown(medians: dict[str, dict[str, Any]], repeats: int) -> str:
    base = medians["BipedalWalker-v3"]["steps_per_s"]
    lines = [
        f"Medians over {repeats} repeats (random actions; 600x400 rgb_array frames).",
        "",
        "| env | steps/s | vs BipedalWalker-v3 | reset (ms) | render fps | step+render fps |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for env_id, m in medians.items():
        lines.append(
            f"| {env_id} | {m['steps_per_s']:,.0f} | {m['steps_per_s'] / base:.2f}x "
            f"| {m['reset_ms']:.2f} | {m['render_fps']:,.0f} | {m['step_render_fps']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5000, help="random steps per repeat")
    parser.add_argument("--frames", type=int, default=300, help="frames per repeat")
    parser.add_argument("--resets", type=int, default=20, help="resets per repeat")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args(argv)
    np.set_printoptions(precision=3)
    medians = run(args.repeats, args.steps, args.frames, args.resets)
    if args.json:
        print(json.dumps({"repeats": args.repeats, "medians": medians}, indent=2))
    else:
        print(markdown(medians, args.repeats))


if __name__ == "__main__":
    main()
