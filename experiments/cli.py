"""The ``rlnn`` command: train, evaluate, render and plot agents; run the supervised demos and sweeps.

    rlnn train dqn CartPole-v1 --seed 0 --out runs/cartpole
    rlnn eval runs/cartpole --episodes 20 --json

This module only reads flags and words errors: the work is done by :mod:`experiments.configs`
(merged settings), :mod:`experiments.training`, :mod:`experiments.sweep` and :mod:`agents`. A
mistake a user can make is one line ``rlnn: error: ...`` on stderr and exit code 2; anything
else is one line naming an internal error and exit code 1. ``--debug`` (anywhere on the line)
or ``RLNN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.errors import UsageError, describe_os_error, escaped

SUBCOMMANDS = ("train", "eval", "render", "plot", "demo", "sweep")
DEBUG_ENV = "RLNN_DEBUG"
MAX_MESSAGE = 1000


def log(message: str) -> None:
    print(message, file=sys.stderr)


# -- arguments --------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse, with its errors one line (no usage block) raised as :class:`UsageError`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _whole(minimum: int) -> Callable[[str], int]:
    what = "a positive whole number" if minimum == 1 else f"a whole number >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in some messages
    return parse


POSITIVE, NON_NEGATIVE = _whole(1), _whole(0)


def _auto_or_positive(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return POSITIVE(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive whole number, got {text!r}") from None


def _layers(args: argparse.Namespace) -> list[Any]:
    """The user's settings over the tuned file, lowest first: ``--config``, ``--env-kwargs``,
    ``--set``, then the budget flags."""
    from experiments.configs import Layer

    layers = [Layer.from_file(args.config)] if args.config else []
    if args.env_kwargs:
        layers.append(Layer.from_env_kwargs(args.env_kwargs))
    if args.set:
        layers.append(Layer.from_sets(args.set))
    for flag, key in (("--steps", "steps"), ("--eval-freq", "eval_freq"), ("--eval-episodes", "eval_episodes"),
                      ("--checkpoint-freq", "checkpoint_freq")):
        value = getattr(args, key)
        if value is not None:
            layers.append(Layer(flag, run={"total_steps" if key == "steps" else key: value}))
    return layers


# -- train ------------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    if args.seeds:
        return _train_seeds(args)
    if args.resume:
        return _resume(args)
    if args.algo is None or args.env_id is None:
        raise UsageError("train needs ALGO and ENV_ID (or --resume DIR)")
    from experiments.training import build_trainer

    seed = 0 if args.seed is None else args.seed
    slug = re.sub(r"[^\w.\-]", "_", args.env_id)[:60]
    out = Path(args.out) if args.out else Path("runs") / f"{args.algo}_{slug}_s{seed}_{time.strftime('%Y%m%d-%H%M%S')}"
    # How-to-run flags left out keep the defaults RunSettings declares.
    options = {key: value for key, value in (("blas_threads", args.blas_threads), ("lanes", args.lanes),
                                             ("tensorboard", args.tensorboard)) if value is not None}
    trainer = build_trainer(args.algo, args.env_id, _layers(args), tuned=not args.no_tuned, seed=seed, run_dir=out,
                            log=log, run_info={"command": args.command_line}, progress=not args.quiet,
                            overwrite=args.overwrite, **options)
    return _run(trainer, args)


def _resume(args: argparse.Namespace) -> int:
    from agents.loop import OffPolicyTrainer
    from experiments.training import import_env_module

    fixed = [flag for flag, value in (("--config", args.config), ("--env-kwargs", args.env_kwargs),
                                      ("--set", args.set), ("--no-tuned", args.no_tuned),
                                      ("--overwrite", args.overwrite), ("--eval-freq", args.eval_freq),
                                      ("--eval-episodes", args.eval_episodes),
                                      ("--checkpoint-freq", args.checkpoint_freq), ("--tensorboard", args.tensorboard),
                                      ("--blas-threads", args.blas_threads), ("--lanes", args.lanes)) if value]
    if fixed:
        raise UsageError(f"--resume continues a run with the settings it recorded; {', '.join(fixed)} cannot "
                         f"change them (--steps N can extend it)")
    if args.algo is not None:   # ALGO module:Env-v0 --resume DIR: import the module that registers the run's env
        _check_resumed_run(args.resume, args.algo, args.env_id and import_env_module(args.env_id))
    trainer = OffPolicyTrainer.resume(args.resume, progress=not args.quiet, log=log, total_steps=args.steps)
    return _run(trainer, args)


def _check_resumed_run(run_dir: str, algo: str, env_id: str | None) -> None:
    """ALGO (and ENV_ID) typed with --resume must be the run's: they add nothing but a module to import."""
    from agents.run_folder import RunFolder
    from agents.safety import shown

    info = RunFolder(run_dir).read_info()
    if algo != info.get("algo") or env_id not in (None, info.get("env_id")):
        raise UsageError(f"{run_dir} is a run of {shown(info.get('algo'))} on {shown(info.get('env_id'))}, not "
                         f"{shown(algo)} on {shown(env_id)}; --resume continues it as it was")


def _run(trainer: Any, args: argparse.Namespace) -> int:
    """Train, then the curve and GIF; the summary on stdout. A full disk or an unwritable file
    mid-run is one line saying how to continue."""
    from experiments.training import finish_run

    try:
        summary = trainer.run()
        finish_run(trainer, gif=not args.no_gif, log=log)
    except OSError as exc:
        raise UsageError(f"{describe_os_error(exc)}; then continue with rlnn train --resume {trainer.run_dir}") from exc
    print(json.dumps(summary))
    if summary["interrupted"]:
        log(f"rlnn: interrupted at step {summary['steps']}; continue with rlnn train --resume {trainer.run_dir}")
        return 130
    return 0


def _train_seeds(args: argparse.Namespace) -> int:
    """``rlnn train ALGO ENV --seeds 0-4``: the same run over seeds on Ray Tune, then a plot of
    mean and spread and a summary table."""
    from experiments.sweep import check_spec, default_out, parse_seeds, require_ray, run_sweep, seeds_spec

    if args.lanes not in (None, "auto") and args.lanes > 1:
        raise UsageError("--lanes does not combine with --seeds: each trial already has a core of its own")
    if args.tensorboard:
        raise UsageError("--tensorboard does not combine with --seeds: each trial writes metrics.csv, "
                         "which rlnn plot OUT draws")
    require_ray("rlnn train --seeds")
    if args.algo is None or args.env_id is None:
        raise UsageError("train --seeds needs ALGO and ENV_ID")
    spec = seeds_spec(args.algo, args.env_id, parse_seeds(args.seeds), _layers(args), tuned=not args.no_tuned)
    check_spec(spec)
    # --resume DIR names the folder of an interrupted --seeds run, as it does for a single run.
    out = Path(args.resume or args.out or default_out(spec.name))
    return run_sweep(spec, out, address=args.address, workers=args.workers, resume=bool(args.resume),
                     quiet=args.quiet,
                     resume_command=f"rlnn train {args.algo} {args.env_id} --seeds {args.seeds} --resume OUT")


def cmd_sweep(args: argparse.Namespace) -> int:
    from experiments.sweep import check_spec, load_spec, require_ray, run_sweep

    require_ray("rlnn sweep")
    spec = load_spec(args.spec)
    check_spec(spec)
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    return run_sweep(spec, out, address=args.address, workers=args.workers, storage=args.storage,
                     resume=args.resume, quiet=args.quiet,
                     resume_command=f"rlnn sweep {args.spec} --out OUT --resume"
                                    + (f" --address {args.address}" if args.address else ""))


# -- using a checkpoint -----------------------------------------------------------------------
def _load_checkpoint(path_arg: str, env_override: str | None) -> tuple[Path, Any, dict[str, Any], str]:
    """``(checkpoint path, agent, metadata, env id)``. An env id read from the file must be a
    plain registered one (an id naming a module would import it); one typed with --env may not."""
    from agents.checkpoint import load_agent
    from agents.safety import registered_env_id
    from experiments.training import resolve_checkpoint

    path = resolve_checkpoint(path_arg)
    try:
        agent, meta = load_agent(path)
        if env_override:
            return path, agent, meta, env_override
        if "env_id" not in meta:
            raise UsageError(f"{path} does not record its environment; pass --env ENV_ID")
        return path, agent, meta, registered_env_id(meta["env_id"], str(path))
    except UsageError:
        raise
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _checkpoint_env(agent: Any, meta: dict[str, Any], env_id: str, args: argparse.Namespace, **kwargs: Any) -> Any:
    """The env a checkpoint acts in: its id made with the ``env_kwargs`` the run recorded,
    ``--env-kwargs`` over them."""
    from experiments.configs import parse_sets
    from experiments.training import check_spaces, make_env

    env_kwargs = {**meta.get("env_kwargs", {}), **parse_sets(args.env_kwargs or [], "--env-kwargs"), **kwargs}
    env = make_env(env_id, **env_kwargs)
    check_spaces(agent, env, env_id)
    return env


def cmd_eval(args: argparse.Namespace) -> int:
    from agents.evaluation import EVAL_SEED_OFFSET, evaluate
    from agents.safety import shown

    path, agent, meta, env_id = _load_checkpoint(args.path, args.env)
    env = _checkpoint_env(agent, meta, env_id, args)
    seed = EVAL_SEED_OFFSET if args.seed is None else args.seed
    result = evaluate(lambda o: agent.act(o, deterministic=True), env, args.episodes, seed=seed)
    if args.json:
        print(json.dumps({"checkpoint": str(path), "env_id": env_id, "seed": seed, **result.to_json()}))
    else:
        print(f"{path} on {shown(env_id)}: mean return {result.mean_return:.2f} ± {result.std_return:.2f} "
              f"over {args.episodes} episodes (seeds {seed}..{seed + args.episodes - 1})")
        print("returns: " + ", ".join(f"{r:.1f}" for r in result.returns))
        for key, value in result.info_means().items():
            print(f"mean info[{shown(key)}]: {value:.3f}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from agents.evaluation import EVAL_SEED_OFFSET
    from experiments.rendering import record_frames, save_gif, save_mp4

    path, agent, meta, env_id = _load_checkpoint(args.checkpoint, args.env)
    seed = EVAL_SEED_OFFSET if args.seed is None else args.seed
    policy = lambda o: agent.act(o, deterministic=True)  # noqa: E731
    if args.window:
        env = _checkpoint_env(agent, meta, env_id, args, render_mode="human")
        for i in range(args.episodes):
            _, total = record_frames(policy, env, seed=seed + i, max_steps=args.max_steps)
            print(f"episode {i}: return {total:.2f}")
        env.close()
        return 0
    out = Path(args.out or path.with_suffix(".gif"))
    if out.suffix not in (".gif", ".mp4"):
        raise UsageError(f"--out must end in .gif or .mp4, got {out.name}")
    env = _checkpoint_env(agent, meta, env_id, args, render_mode="rgb_array")
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
        raise UsageError(str(exc)) from exc
    print(f"wrote {out} ({len(frames)} frames; returns {', '.join(f'{t:.1f}' for t in totals)})")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from experiments.plots import find_runs, plot_runs

    runs = find_runs(args.runs)
    if not runs:
        raise UsageError(f"no run folders (with metrics.csv) in {' '.join(args.runs)}")
    out = Path(args.out or Path(args.runs[0]) / "curves.png")
    plot_runs(runs, out)
    print(f"wrote {out} ({len(runs)} run(s))")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from experiments.supervised import run_all

    for path in run_all(Path(args.out), quick=args.quick):
        print(f"wrote {path}")
    return 0


# -- the parser -------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=f"show the traceback of an error (also: {DEBUG_ENV}=1)")
    parser = _Parser(prog="rlnn", description="Reinforcement learning on a from-scratch numpy network.")
    parser.add_argument("--debug", action="store_true", default=False,
                        help=f"show the traceback of an error (also: {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, parents=[common])
        command.set_defaults(func=func)
        return command

    train = add("train", cmd_train, "train an agent (tuned hyperparameters when they exist)")
    train.add_argument("algo", nargs="?", help="dqn, sac, td3, ddpg, crossq, ppo or a2c")
    train.add_argument("env_id", nargs="?", help="a registered Gymnasium id (CartPole-v1, rlnn/Walker-v0), or "
                                                 "module:Env-v0 to import the module that registers it")
    train.add_argument("--config", metavar="FILE", help="a JSON config file, layered on the tuned one "
                                        "(experiments/configs/ALGO/ENV_ID.json)")
    train.add_argument("--no-tuned", action="store_true", help="leave out the tuned config file")
    train.add_argument("--env-kwargs", action="extend", nargs="+", metavar="KEY=VALUE",
                       help="keyword arguments of the environment (gymnasium.make(ENV_ID, **kwargs)), values read "
                            "as --set reads them, e.g. --env-kwargs g=5.0 max_episode_steps=100; recorded in "
                            "run.json and reused by eval, render and --resume")
    train.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="set a hyperparameter (over --config), e.g. --set learning_rate=1e-3, or "
                            "--set n_envs=4 to collect from 4 copies of the env")
    train.add_argument("--steps", type=POSITIVE, metavar="N",
                       help="total env steps (with --resume: extend the run to this many)")
    train.add_argument("--seed", type=NON_NEGATIVE, metavar="S", help="seed of the whole run (default 0)")
    train.add_argument("--seeds", metavar="A-B", help="one run per seed in A..B (or a comma list) on Ray Tune, "
                                                          "then a plot and a summary table")
    train.add_argument("--workers", type=POSITIVE, metavar="N",
                       help="with --seeds: trials run at once (default: CPU count)")
    train.add_argument("--address", help="with --seeds: join a Ray cluster ('auto' or host:port)")
    train.add_argument("--out", metavar="DIR", help="run folder (default runs/ALGO_ENV_sSEED_TIME)")
    train.add_argument("--overwrite", action="store_true",
                       help="start afresh in an --out folder that is not empty (the old run's files are removed)")
    train.add_argument("--eval-freq", type=NON_NEGATIVE, metavar="N", help="env steps between evaluations (0: none)")
    train.add_argument("--eval-episodes", type=POSITIVE, metavar="N",
                       help="episodes per evaluation (default: the config's, else 10)")
    train.add_argument("--checkpoint-freq", type=NON_NEGATIVE, metavar="N",
                       help="env steps between checkpoints (0: none)")
    train.add_argument("--resume", metavar="DIR", help="continue an interrupted run (of an env registered by a "
                                                       "module of yours: also give ALGO module:Env-v0)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--tensorboard", action="store_true", default=None,
                       help="also write TensorBoard event files to OUT/tensorboard (extra 'tensorboard'); "
                            "metrics.csv is written either way")
    train.add_argument("--blas-threads", type=_auto_or_positive, metavar="N|auto",
                       help="BLAS threads per process for the updates: a number, or 'auto' (default) to let the "
                            "trainer choose")
    train.add_argument("--lanes", type=_auto_or_positive, metavar="N|auto",
                       help="processes that share a run's work (Linux): an off-policy update's rows (BLAS then "
                            "running one thread per process), an on-policy run's sub-envs; 'auto' (default) picks "
                            "from the update's size or the number of sub-envs, and the machine's cores. Never "
                            "changes the results. Recorded in run.json and reused by --resume")
    train.add_argument("--no-gif", action="store_true", help="skip the GIF of an episode at the end")

    ev = add("eval", cmd_eval, "evaluate a checkpoint or run folder")
    ev.add_argument("path")
    ev.add_argument("--episodes", type=POSITIVE, default=10, metavar="N")
    ev.add_argument("--seed", type=NON_NEGATIVE, metavar="S",
                    help="seed of the first episode (default: the evaluation seed range)")
    ev.add_argument("--env", help="override the environment id")
    ev.add_argument("--env-kwargs", action="extend", nargs="+", metavar="KEY=VALUE",
                    help="keyword arguments of the environment over those the run recorded")
    ev.add_argument("--json", action="store_true")

    render = add("render", cmd_render, "render episodes of a checkpoint to a GIF/MP4 or a window")
    render.add_argument("checkpoint", help="a checkpoint file or run folder")
    render.add_argument("--out", help="FILE.gif or FILE.mp4 (default: next to the checkpoint)")
    render.add_argument("--episodes", type=POSITIVE, default=1, metavar="N")
    render.add_argument("--seed", type=NON_NEGATIVE, metavar="S")
    render.add_argument("--max-steps", type=POSITIVE, default=2000, metavar="N")
    render.add_argument("--env", help="override the environment id")
    render.add_argument("--env-kwargs", action="extend", nargs="+", metavar="KEY=VALUE",
                        help="keyword arguments of the environment over those the run recorded")
    render.add_argument("--window", action="store_true", help="a live pygame window instead of a file")

    plot = add("plot", cmd_plot, "learning curves of run folders (mean and spread across seeds)")
    plot.add_argument("runs", nargs="+", help="run folders, or folders holding run folders")
    plot.add_argument("--out", help="PNG path (default: RUN_DIR/curves.png)")

    demo = add("demo", cmd_demo, "the supervised demos of the seed documents (PNG/GIF)")
    demo.add_argument("--out", default="docs/supervised")
    demo.add_argument("--quick", action="store_true", help="smaller budgets, for a smoke test")

    sweep = add("sweep", cmd_sweep, "hyperparameter search / many seeds on Ray Tune (extra 'ray')")
    sweep.add_argument("spec", help="a sweep spec (TOML)")
    sweep.add_argument("--address", help="join an existing Ray cluster ('auto' or host:port); default: start locally")
    sweep.add_argument("--workers", type=POSITIVE, metavar="N", help="trials run at once (default: CPU count)")
    sweep.add_argument("--out", help="sweep folder (default: runs/sweeps/NAME)")
    sweep.add_argument("--storage", help="storage path shared by all nodes (multi-node clusters need one)")
    sweep.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --out")
    sweep.add_argument("--quiet", action="store_true")
    return parser


# -- errors -----------------------------------------------------------------------------------
def _expected_errors() -> tuple[type[BaseException], ...]:
    """What a user causes and can fix: a bad flag, file, id or setting, a run folder in the way,
    a run that diverged. (Imported lazily: ``rlnn --help`` need not load the agents.)"""
    from agents.loop import TrainingDiverged
    from agents.run_folder import RunFolderError

    return UsageError, RunFolderError, TrainingDiverged


def one_line(text: str) -> str:
    """A message as one line: line breaks folded, other control characters escaped, cut."""
    text = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def explain(exc: BaseException) -> tuple[int, str]:
    """``(exit code, one-line message)`` for an exception that reached the top."""
    if isinstance(exc, _expected_errors()):
        return 2, one_line(str(exc) or type(exc).__name__)
    if isinstance(exc, OSError):
        return 2, one_line(describe_os_error(exc))
    return 1, (f"internal error: {type(exc).__name__}: {escaped(str(exc).strip(), 300)} "
               f"(run with --debug for the traceback)")


def main(argv: list[str] | None = None) -> int:
    """The ``rlnn`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = debug or args.debug
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        args.command_line = shlex.join(["rlnn", *argv])
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        log("rlnn: interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001  (the one place that turns every error into one line)
        if debug:
            raise
        code, message = explain(exc)
        log(f"rlnn: error: {message}")
        return code


if __name__ == "__main__":
    raise SystemExit(main())
