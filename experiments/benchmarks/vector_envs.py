"""Does vectorized collection pay on a slow env? Env steps per second, ``n_envs`` 1 against 4.

    python -m experiments.benchmarks.vector_envs --steps 2000 --rounds 3

The env is CartPole-v1 whose ``step`` also waits ``--wait`` seconds (default 1 ms) without using
the CPU (``time.sleep``), as a remote simulator or a real robot does. The trainer collects with
DQN's exploration and no update (``learning_starts`` beyond the run), so the figure is the
collection's alone: ``n_envs=1``, then ``n_envs=4`` through ``gymnasium.vector.SyncVectorEnv``
(the waits add up) and ``AsyncVectorEnv`` (one process per sub-env, the waits overlap). The
settings alternate within each round, so a slow phase of the machine hits all of them; the
report gives medians over rounds and each setting's ratio to ``n_envs=1``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import gymnasium as gym

SETTINGS = (("1 env", 1, "sync"), ("4 envs, sync", 4, "sync"), ("4 envs, async", 4, "async"))


class SlowStep(gym.Wrapper):
    """An env whose every ``step`` first waits ``wait`` seconds, idle."""

    def __init__(self, env: gym.Env, wait: float) -> None:
        super().__init__(env)
        self.wait = wait

    def step(self, action):
        time.sleep(self.wait)
        return self.env.step(action)


def steps_per_second(n_envs: int, mode: str, steps: int, wait: float, seed: int) -> float:
    from agents import DQN, OffPolicyTrainer, RunSettings

    def make() -> gym.Env:
        return SlowStep(gym.make("CartPole-v1"), wait)

    probe = make()
    agent = DQN(probe.observation_space, probe.action_space,
                {"learning_starts": 10 * steps, "n_envs": n_envs, "vec_env": mode}, seed=seed)
    probe.close()
    trainer = OffPolicyTrainer(agent, make, RunSettings(steps, seed=seed, eval_freq=0, progress=False, lanes=1))
    try:
        start = time.perf_counter()
        trainer.run()
        elapsed = time.perf_counter() - start
    finally:
        trainer.close()
    return trainer.step / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="env transitions per measurement")
    parser.add_argument("--wait", type=float, default=1e-3, help="seconds each env step waits, idle")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {name: [] for name, _, _ in SETTINGS}
    for round_ in range(args.rounds):
        for name, n_envs, mode in SETTINGS:
            rates[name].append(steps_per_second(n_envs, mode, args.steps, args.wait, seed=round_))
            print(f"round {round_ + 1}: {name}: {rates[name][-1]:.0f} env steps/s", flush=True)
    base = statistics.median(rates["1 env"])
    print(f"\nCartPole-v1 with a {args.wait * 1e3:g} ms idle wait per step, {args.steps} transitions, "
          f"medians of {args.rounds} rounds\n")
    print("| setting | env steps/s (median) | per round | vs 1 env |\n|---|---:|---|---:|")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.0f} | {', '.join(f'{v:.0f}' for v in values)} | {median / base:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"wait_s": args.wait, "steps": args.steps, "rates": rates}, indent=1))


if __name__ == "__main__":
    main()
