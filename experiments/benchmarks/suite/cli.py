"""The command line of ``python -m experiments.benchmarks.suite`` (usage: the package docstring)."""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import time
from pathlib import Path
from typing import IO

from experiments.benchmarks.suite.report import write_report
from experiments.benchmarks.suite.runner import Runner, done_results, shown_command, stages
from experiments.benchmarks.suite.spec import LIBS, Run, Suite, SuiteError, load_suite, plan_runs, select
from experiments.benchmarks.suite.state import (DONE, EVALUATE, FRESH, RESUME, RunPaths, last_step, run_state,
                                                steps_to_go)
from experiments.errors import UsageError, describe_os_error


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from agents.parallel import available_cores

    parser = _Parser(prog="python -m experiments.benchmarks.suite",
                     description="Run a benchmark suite (rlnn and/or Stable-Baselines3), resumable, and report it.")
    parser.add_argument("suite", nargs="?", default="classic",
                        help="a shipped suite (classic, mujoco, ppo) or a suite TOML file (default: classic)")
    parser.add_argument("--only", action="append", default=[], metavar="ALGO[:TASK[:SEEDS]]",
                        help="run only matching runs (repeatable): shell-style patterns, e.g. dqn, "
                             "sac:Pendulum-v1, ':*Lunar*:0-1'")
    parser.add_argument("--jobs", type=_positive, default=available_cores(), metavar="N",
                        help="runs side by side, each one process with one BLAS thread (default: the cores)")
    parser.add_argument("--out", metavar="DIR", help="suite folder (default: runs/suite_NAME, "
                                                     "runs/suite_NAME_defaults with --no-tuned)")
    parser.add_argument("--lib", choices=("rlnn", "sb3", "both"), default="rlnn",
                        help="which library trains (sb3, both: extra 'bench'); both alternate run by run")
    parser.add_argument("--no-tuned", action="store_true", help="the defaults study: tuned config files switched off")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and what is done, run nothing")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from the results in --out")
    return parser


def lock_suite(out: Path) -> IO[str]:
    """``out/.suite.lock``, held while an invocation runs, so two cannot start the same runs."""
    import fcntl

    handle = (out / ".suite.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SuiteError(f"another invocation of the suite is running in {out}; wait for it to end or choose "
                         f"another --out") from None
    return handle


def sb3_installed() -> bool:
    return importlib.util.find_spec("stable_baselines3") is not None


def _default_out(name: str, no_tuned: bool) -> Path:
    return Path("runs") / (f"suite_{name}_defaults" if no_tuned else f"suite_{name}")


def _describe(run: Run, state: str, out: Path) -> str:
    paths = RunPaths(out, run)
    how = state
    if state == RESUME:
        step = last_step(paths.run_dir)
        how = f"resume (logged to step {step:,})" if step is not None else state
    line = f"{run.label:<48} {run.steps:>9,} steps  {how}"
    todo = stages(run, paths, state) if state != DONE else []
    return line + (f"\n      {shown_command(todo[0][1])}" if todo else "")


def main(argv: list[str] | None = None) -> int:
    """The command; its exit code (2 and one line on stderr for a mistake a user can fix)."""
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except UsageError as exc:
        print(f"suite: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"suite: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    suite = load_suite(args.suite)
    libs = LIBS if args.lib == "both" else (args.lib,)
    out = Path(args.out) if args.out else _default_out(suite.name, args.no_tuned)
    if args.report_only:
        if not (out / "runs").is_dir():
            raise SuiteError(f"{out} holds no runs of suite {suite.name}; run the suite first (or give --out)")
        for path in write_report(suite, out, args.no_tuned):
            print(f"wrote {path}")
        return 0
    if "sb3" in libs and not sb3_installed():
        raise SuiteError(f"--lib {args.lib} needs Stable-Baselines3: pip install -e '.[bench]'")
    runs = select(plan_runs(suite, libs, args.no_tuned), args.only)
    if not runs:
        raise SuiteError(f"suite {suite.name} has no run for --lib {args.lib} (its entries set sb3 = false)")
    if args.dry_run:
        states, summary = _plan(runs, out, suite, args)
        print(summary)
        for i, (run, state, _) in enumerate(states, 1):
            print(f"{i:>4}. {_describe(run, state, out)}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    with lock_suite(out), (out / "suite.log").open("a") as log:
        def say(message: str) -> None:
            line = f"[{time.strftime('%H:%M:%S')}] {message}"
            print(line, flush=True)
            log.write(line + "\n")
            log.flush()

        states, summary = _plan(runs, out, suite, args)
        say(f"{shown_argv(argv)}: {summary}")
        runner = Runner([item for item in states if item[1] != DONE], out, suite.name, args.jobs, say,
                        known=done_results(out, runs),
                        on_result=lambda run, result: write_report(suite, out, args.no_tuned, [run.entry.name]))
        code = runner.run()
        paths = write_report(suite, out, args.no_tuned)
        say(f"report: {paths[0]} ({runner.finished} run(s) finished now, {runner.failed} failed)")
    return code


def _plan(runs: list[Run], out: Path, suite: Suite, args: argparse.Namespace) -> tuple[list[tuple[Run, str, int]], str]:
    """Each run with its state and the env steps it has to train, and a line summing them up."""
    states = [(run, state, steps_to_go(out, run, state)) for run in runs for state in (run_state(out, run),)]
    counts = {s: sum(item[1] == s for item in states) for s in (DONE, EVALUATE, RESUME, FRESH)}
    summary = (f"suite {suite.name} ({suite.path}), {'no tuned files' if args.no_tuned else 'tuned configs'}, "
               f"{len(runs)} run(s): " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
               + f"; {sum(item[2] for item in states):,} env steps to train, {args.jobs} at a time, in {out}")
    return states, summary


def shown_argv(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "experiments.benchmarks.suite", *argv])
