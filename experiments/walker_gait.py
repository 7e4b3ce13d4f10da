"""Run the scripted open-loop sine gait on rlnn/Walker-v0 and report how far it gets.

``python experiments/walker_gait.py [--steps N] [--seed S] [--gif PATH]``; ``--gif`` writes an
animated GIF of the run with Pillow (every third frame, half size).
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
        if n % 3 == 0 or terminated or truncated:
            frames.append(Image.fromarray(env.render()).resize((300, 200), Image.BILINEAR))
        if terminated or truncated:
            break
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=60, loop=0)
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif", default=None, help="write an animated GIF of the run here")
    args = parser.parse_args(argv)
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
