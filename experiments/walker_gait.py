"""Run the scripted open-loop sine gait on rlnn/Walker-v0 and report how far it gets.

``python experiments/walker_gait.py [--steps N] [--seed S] [--gif PATH] [--search N]``; ``--gif``
writes an animated GIF of the run with Pillow (every 4th frame, half size); ``--search N``
random-searches N gait settings (1000 flat-ground steps each, single process) and prints the
ones that walk on seeds 0-5, which is how the defaults of ``SineGait`` were found.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import envs  # noqa: F401  (registers the ids)
from envs.gait import SineGait, run_gait
from envs.walker import COURSE_LENGTH, TIME_LIMIT


def write_gif(path: str, gait: SineGait, steps: int, seed: int) -> dict:
    from PIL import Image

    env = gym.make("rlnn/Walker-v0", render_mode="rgb_array")
    obs, info = env.reset(seed=seed)
    frames = []
    for n in range(1, steps + 1):
        obs, _, terminated, truncated, info = env.step(gait.action(obs, n))
        if n % 4 == 0 or terminated or truncated:
            frames.append(Image.fromarray(env.render()).resize((300, 200), Image.BILINEAR))
        if terminated or truncated:
            break
    # 4 env steps = 80 ms per frame: real time.
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0, optimize=True)
    return info


def search(n: int, seed: int) -> None:
    """Random search around the quasi-static walking pattern; prints robust settings."""
    rng = np.random.default_rng(seed)
    env = gym.make("rlnn/Walker-v0", course_length=1000.0)  # no finish line within reach
    for _ in range(n):
        knee_straight = rng.uniform(-0.3, -0.12)
        gait = SineGait(
            period=rng.uniform(1.0, 1.6),
            hip_mid=-knee_straight / 2 + rng.uniform(-0.06, 0.06),  # hull over the feet
            hip_amp=rng.uniform(0.05, 0.12),
            knee_straight=knee_straight,
            knee_bend=rng.uniform(0.1, 0.4),
            knee_phase=rng.uniform(-1.0, 0.6),
            kp=rng.uniform(2.0, 6.0),
        )
        runs = []
        for s in range(6):
            r = run_gait(env, gait, 1000, seed=s)
            if r["fell"] or r["distance"] < 5.0:
                break
            runs.append(r["distance"])
        if len(runs) == 6:
            print(f"{min(runs):.2f}-{max(runs):.2f} m: {gait}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif", default=None, help="write an animated GIF of the run here")
    parser.add_argument("--search", type=int, default=0, help="random-search this many gaits")
    args = parser.parse_args(argv)
    if args.search:
        search(args.search, args.seed)
        return
    gait = SineGait()
    env = gym.make("rlnn/Walker-v0")
    short = run_gait(env, gait, args.steps, seed=args.seed)
    full = run_gait(env, gait, TIME_LIMIT, seed=args.seed)
    print(f"{args.steps} steps: {short}")
    print(f"time limit ({TIME_LIMIT} steps): {full}")
    if full["distance"] > 0:
        ratio = COURSE_LENGTH / full["distance"]
        print(f"course {COURSE_LENGTH} m = {ratio:.1f}x the gait's distance in the time limit")
    else:
        print(f"course {COURSE_LENGTH} m; the gait made no forward progress")
    if args.gif:
        info = write_gif(args.gif, gait, args.steps, args.seed)
        print(f"wrote {args.gif} ({info['distance']:.2f} m)")
    np.set_printoptions(precision=3)


if __name__ == "__main__":
    main()
