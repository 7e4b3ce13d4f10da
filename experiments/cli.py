"""The ``rlnn`` command: train, evaluate, render and plot agents; run the supervised demos.

    rlnn train dqn CartPole-v1 --seed 0 --out runs/cartpole
    rlnn eval runs/cartpole --episodes 20 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

SUBCOMMANDS = ("train", "eval", "render", "plot", "demo", "sweep")


def _fail(message: str) -> None:
    print(f"rlnn: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _parse_sets(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            _fail(f"--set expects key=value, got {pair!r}")
        key, raw = pair.split("=", 1)
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its final (else best) checkpoint; a file is used as is."""
    path = Path(path)
    if path.is_dir():
        for name in ("final.npz", "best.npz"):
            if (path / name).is_file():
                return path / name
        candidates = sorted((path / "checkpoints").glob("step_*.npz"), key=lambda p: int(p.stem.split("_")[1]))
        if candidates:
            return candidates[-1]
        _fail(f"{path} holds no checkpoint (final.npz, best.npz or checkpoints/step_*.npz)")
    if not path.is_file():
        _fail(f"no such checkpoint or run folder: {path}")
    return path


def _make_env(env_id: str, **kwargs: Any):
    import os

    import gymnasium as gym

    # pygame-based renderers otherwise look for an audio device and, for off-screen frames, a
    # display, and complain on headless machines.
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    if kwargs.get("render_mode") == "rgb_array":
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import envs  # noqa: F401  (registers rlnn/Walker-v0 and rlnn/WalkerRough-v0)
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.Error as exc:
        _fail(f"cannot make environment {env_id!r}: {exc}")


def cmd_train(args: argparse.Namespace) -> int:
    import agents
    import envs  # noqa: F401
    from agents.config import config_from_dict
    from agents.loop import OffPolicyTrainer
    from experiments.configs import load_config_file, tuned_config

    log = lambda msg: print(msg, file=sys.stderr)
    if args.seeds:
        if args.lanes > 1:
            _fail("--lanes does not combine with --seeds: each trial already has a core of its own")
        from experiments.sweep import cmd_train_seeds
        return cmd_train_seeds(args)
    if args.resume:
        trainer = OffPolicyTrainer.resume(args.resume, progress=not args.quiet, log=log)
        summary = trainer.run()
        _finish_run(trainer, args)
        print(json.dumps(summary))
        return 0
    if args.algo is None or args.env_id is None:
        _fail("train needs ALGO and ENV_ID (or --resume DIR)")
    if args.algo not in agents.ALGORITHMS:
        _fail(f"unknown algorithm {args.algo!r}; accepted: {', '.join(sorted(agents.ALGORITHMS))}")
    file_config = load_config_file(args.config) if args.config else tuned_config(args.algo, args.env_id)
    file_config = file_config or {}
    hyper = dict(file_config.get("hyperparameters", {}))
    hyper.update(_parse_sets(args.set or []))
    agent_cls = agents.ALGORITHMS[args.algo]
    try:
        config = config_from_dict(agent_cls.Config, hyper)
    except ValueError as exc:
        _fail(str(exc))
    env_kwargs = dict(file_config.get("env_kwargs", {}))
    env = _make_env(args.env_id, **env_kwargs)
    try:
        agent = agent_cls(env.observation_space, env.action_space, config, seed=args.seed)
    except ValueError as exc:
        _fail(str(exc))
    env.close()
    total = args.steps if args.steps is not None else int(file_config.get("total_steps", 100_000))
    eval_freq = args.eval_freq if args.eval_freq is not None else int(file_config.get("eval_freq", max(total // 10, 1)))
    out = Path(args.out) if args.out else Path("runs") / f"{args.algo}_{args.env_id.replace('/', '_')}_s{args.seed}_{time.strftime('%Y%m%d-%H%M%S')}"
    if (out / "run.json").exists():
        _fail(f"{out} already holds a run; pick another --out or continue it with --resume {out}")
    try:
        trainer = OffPolicyTrainer(agent, args.env_id, total, args.seed, env_kwargs=env_kwargs, run_dir=out,
                                   eval_freq=eval_freq, eval_episodes=int(file_config.get("eval_episodes", 10)),
                                   checkpoint_freq=args.checkpoint_freq or max(total // 5, 1),
                                   progress=not args.quiet, log=log, blas_threads=_threads(args.blas_threads),
                                   lanes=args.lanes,
                                   run_info={"command": " ".join(["rlnn", *sys.argv[1:]]),
                                             "config_source": str(args.config or file_config.get("source", "defaults"))})
    except ValueError as exc:  # e.g. lanes for an agent without any
        _fail(str(exc))
    summary = trainer.run()
    _finish_run(trainer, args)
    print(json.dumps(summary))
    return 0


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value!r}")
    return int(value)


def _threads(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        _fail(f"--blas-threads takes a positive number or 'auto', got {value!r}")
    return int(value)


def _finish_run(trainer: Any, args: argparse.Namespace) -> None:
    """After training: the learning-curve PNG and, when the env renders, a GIF of one episode."""
    if trainer.summary()["interrupted"]:
        return
    from agents.plots import plot_runs
    plot_runs([trainer.run_dir], trainer.run_dir / "curve.png")
    if not getattr(args, "no_gif", False):
        from agents.rendering import record_gif
        try:
            env = _make_env(trainer.env_id, render_mode="rgb_array", **trainer.env_kwargs)
            record_gif(lambda o: trainer.agent.act(o, deterministic=True), env, trainer.run_dir / "episode.gif")
        except Exception as exc:  # noqa: BLE001  (a GIF is a bonus: an env that cannot render still trained)
            print(f"rlnn: no GIF ({type(exc).__name__}: {exc})", file=sys.stderr)


def _load_checkpoint(path_arg: str, env_override: str | None) -> tuple[Path, Any, dict[str, Any], str]:
    """``(checkpoint path, agent, metadata, env id)`` for a checkpoint file or run folder."""
    from agents.checkpoint import load_agent

    path = resolve_checkpoint(path_arg)
    try:
        agent, meta = load_agent(path)
    except ValueError as exc:
        _fail(str(exc))
    env_id = env_override or meta.get("env_id")
    if not env_id:
        _fail(f"{path} does not record its environment; pass --env ENV_ID")
    return path, agent, meta, env_id


def cmd_eval(args: argparse.Namespace) -> int:
    from agents.evaluation import EVAL_SEED_OFFSET, evaluate

    path, agent, meta, env_id = _load_checkpoint(args.path, args.env)
    env = _make_env(env_id, **meta.get("env_kwargs", {}))
    seed = EVAL_SEED_OFFSET if args.seed is None else args.seed
    result = evaluate(lambda o: agent.act(o, deterministic=True), env, args.episodes, seed=seed)
    if args.json:
        print(json.dumps({"checkpoint": str(path), "env_id": env_id, "seed": seed, **result.to_json()}))
    else:
        print(f"{path} on {env_id}: mean return {result.mean_return:.2f} ± {result.std_return:.2f} "
              f"over {args.episodes} episodes (seeds {seed}..{seed + args.episodes - 1})")
        print("returns: " + ", ".join(f"{r:.1f}" for r in result.returns))
        for key, value in result.info_means().items():
            print(f"mean info[{key!r}]: {value:.3f}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from agents.evaluation import EVAL_SEED_OFFSET
    from agents.rendering import record_frames, save_gif, save_mp4

    path, agent, meta, env_id = _load_checkpoint(args.checkpoint, args.env)
    seed = EVAL_SEED_OFFSET if args.seed is None else args.seed
    policy = lambda o: agent.act(o, deterministic=True)
    if args.window:
        env = _make_env(env_id, render_mode="human", **meta.get("env_kwargs", {}))
        for i in range(args.episodes):
            _, total = record_frames(policy, env, seed=seed + i, max_steps=args.max_steps)
            print(f"episode {i}: return {total:.2f}")
        env.close()
        return 0
    out = Path(args.out or path.with_suffix(".gif"))
    if out.suffix not in (".gif", ".mp4"):
        _fail(f"--out must end in .gif or .mp4, got {out.name}")
    env = _make_env(env_id, render_mode="rgb_array", **meta.get("env_kwargs", {}))
    frames, totals = [], []
    for i in range(args.episodes):
        episode_frames, total = record_frames(policy, env, seed=seed + i, max_steps=args.max_steps,
                                              every=1 if out.suffix == ".mp4" else 2)
        frames += episode_frames
        totals.append(total)
    fps = int(env.metadata.get("render_fps", 30) or 30)
    try:
        if out.suffix == ".gif":
            save_gif(frames, out, fps=max(fps // 2, 1))
        else:
            save_mp4(frames, out, fps=fps)
    except (ImportError, ValueError) as exc:
        _fail(str(exc))
    print(f"wrote {out} ({len(frames)} frames; returns {', '.join(f'{t:.1f}' for t in totals)})")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from agents.plots import find_runs, plot_runs

    runs = find_runs(args.runs)
    if not runs:
        _fail(f"no run folders (with metrics.csv) in {' '.join(args.runs)}")
    out = Path(args.out or Path(args.runs[0]) / "curves.png")
    plot_runs(runs, out)
    print(f"wrote {out} ({len(runs)} run(s))")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments.supervised import run_all

    for path in run_all(Path(args.out), quick=args.quick):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlnn", description="Reinforcement learning on a from-scratch numpy network.")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")

    train = sub.add_parser("train", help="train an agent (tuned hyperparameters when they exist)")
    train.add_argument("algo", nargs="?", help="dqn, sac, td3 or ddpg")
    train.add_argument("env_id", nargs="?", help="any registered Gymnasium id, e.g. CartPole-v1, rlnn/Walker-v0")
    train.add_argument("--config", help="a JSON config file (default: experiments/configs/ALGO/ENV_ID.json)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a hyperparameter")
    train.add_argument("--steps", type=int, help="total env steps")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--seeds", metavar="A-B", help="one run per seed in A..B (or a comma list) on Ray Tune, "
                                                          "then a plot and a summary table")
    train.add_argument("--workers", type=int, help="with --seeds: trials run at once (default: CPU count)")
    train.add_argument("--address", help="with --seeds: join a Ray cluster ('auto' or host:port)")
    train.add_argument("--out", help="run folder (default runs/ALGO_ENV_sSEED_TIME)")
    train.add_argument("--eval-freq", type=int, help="env steps between evaluations")
    train.add_argument("--checkpoint-freq", type=int, help="env steps between checkpoints")
    train.add_argument("--resume", metavar="DIR", help="continue an interrupted run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--blas-threads", default="auto",
                       help="BLAS threads for the updates: a number, or 'auto' (2 for large updates, else 1)")
    train.add_argument("--lanes", type=_positive_int, default=1,
                       help="cores for work that can run side by side (SAC/TD3: the twin critics on two threads; "
                            "DQN: each batch's rows split over two processes, Linux); BLAS then uses 1 thread "
                            "per lane")
    train.add_argument("--no-gif", action="store_true", help="skip the GIF of an episode at the end")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a checkpoint or run folder")
    ev.add_argument("path")
    ev.add_argument("--episodes", type=int, default=10)
    ev.add_argument("--seed", type=int, help="seed of the first episode (default: the evaluation seed range)")
    ev.add_argument("--env", help="override the environment id")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)

    render = sub.add_parser("render", help="render episodes of a checkpoint to a GIF/MP4 or a window")
    render.add_argument("checkpoint", help="a checkpoint file or run folder")
    render.add_argument("--out", help="FILE.gif or FILE.mp4 (default: next to the checkpoint)")
    render.add_argument("--episodes", type=int, default=1)
    render.add_argument("--seed", type=int)
    render.add_argument("--max-steps", type=int, default=2000)
    render.add_argument("--env", help="override the environment id")
    render.add_argument("--window", action="store_true", help="a live pygame window instead of a file")
    render.set_defaults(func=cmd_render)

    plot = sub.add_parser("plot", help="learning curves of run folders (mean and spread across seeds)")
    plot.add_argument("runs", nargs="+", help="run folders, or folders holding run folders")
    plot.add_argument("--out", help="PNG path (default: RUN_DIR/curves.png)")
    plot.set_defaults(func=cmd_plot)

    demo = sub.add_parser("demo", help="the supervised demos of the seed documents (PNG/GIF)")
    demo.add_argument("--out", default="docs/supervised")
    demo.add_argument("--quick", action="store_true", help="smaller budgets, for a smoke test")
    demo.set_defaults(func=cmd_demo)

    sweep = sub.add_parser("sweep", help="hyperparameter search / many seeds on Ray Tune (extra 'ray')")
    sweep.add_argument("spec", help="a sweep spec (TOML)")
    sweep.add_argument("--address", help="join an existing Ray cluster ('auto' or host:port); default: start locally")
    sweep.add_argument("--workers", type=int, help="trials run at once (default: CPU count)")
    sweep.add_argument("--out", help="sweep folder (default: runs/sweeps/NAME)")
    sweep.add_argument("--storage", help="storage path shared by all nodes (multi-node clusters need one)")
    sweep.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")
    sweep.add_argument("--quiet", action="store_true")
    sweep.set_defaults(func=lambda a: __import__("experiments.sweep", fromlist=["cmd_sweep"]).cmd_sweep(a))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
