"""Time to walk: how soon after ``rlnn train`` starts does the robot finish the course?

    python -m experiments.benchmarks.time_to_walk --algo sac --algo ppo --seeds 0-2
    python -m experiments.benchmarks.time_to_walk --report-only          # redraw from --out

Each (algorithm, seed) is one ``rlnn train ALGO ENV`` process with its shipped config, one BLAS
thread, evaluated every ``--eval-freq`` env steps on ``--episodes`` deterministic episodes
(default 20). The run has *walked* at the first evaluation where at least ``--finish`` of those
episodes finish the course (``info["finished"]``) and at most ``--falls`` fall
(``info["fell"]``); it *stays walking* when every later evaluation passes too. The figures come
from the run's ``evals.jsonl``:

* ``steps``: env steps trained before that evaluation;
* ``seconds``: wall time from the process's start (imports, env and network construction and
  the earlier evaluations included) to the start of that evaluation;
* ``train seconds``: the run's own training time up to it, without any evaluation.

Runs go ``--jobs`` at a time (default 1: on a 2-core machine two runs share the memory bus, so
times are for one run alone unless you ask otherwise). Writes ``report.md``, ``report.json`` and
``curves.png`` (the fraction of episodes finished, against env steps and against seconds) in
``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from agents.run_folder import RunFolder
from experiments.benchmarks.compare_sb3 import cpu_name
from experiments.benchmarks.processes import thread_env

CLI = (sys.executable, "-m", "experiments.cli")


def parse_seeds(text: str) -> list[int]:
    """``"0-2"`` -> [0, 1, 2]; ``"0,3"`` -> [0, 3]."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds


def walk_record(record: dict[str, Any], finish: int, falls: int) -> tuple[int, int, bool]:
    """(episodes finished, episodes fallen, whether this evaluation counts as walking)."""
    infos = record.get("infos", [])
    finished = sum(bool(info.get("finished")) for info in infos)
    fell = sum(bool(info.get("fell")) for info in infos)
    return finished, fell, finished >= finish and fell <= falls


def time_to_walk(records: list[dict[str, Any]], started: float, finish: int, falls: int) -> dict[str, Any]:
    """The first evaluation that walks (steps, seconds from ``started``, training seconds) and
    whether every later one walks too; ``walked`` False when none does."""
    eval_seconds = 0.0
    for i, record in enumerate(records):
        *_, walks = walk_record(record, finish, falls)
        if walks:
            stays = all(walk_record(later, finish, falls)[2] for later in records[i + 1:])
            return {"walked": True, "steps": record["step"], "seconds": record["unix_time"] - started,
                    "train_seconds": record["time"] - eval_seconds, "stays_walking": stays}
        eval_seconds += record["eval_seconds"]
    return {"walked": False, "steps": None, "seconds": None, "train_seconds": None, "stays_walking": False}


def train_command(algo: str, env_id: str, seed: int, args: argparse.Namespace, run_dir: Path) -> list[str]:
    argv = [*CLI, "train", algo, env_id, "--seed", str(seed), "--out", str(run_dir), "--overwrite",
            "--blas-threads", "1", "--eval-freq", str(args.eval_freq), "--eval-episodes", str(args.episodes),
            "--quiet", "--no-gif"]
    if args.steps:
        argv += ["--steps", str(args.steps)]
    for item in args.set or []:
        argv += ["--set", item]
    return argv


def run_all(args: argparse.Namespace, out: Path) -> None:
    todo = [(algo, seed) for algo in args.algo for seed in parse_seeds(args.seeds)]
    running: list[tuple[subprocess.Popen, str, int, float, Path]] = []
    while todo or running:
        while todo and len(running) < args.jobs:
            algo, seed = todo.pop(0)
            run_dir = out / "runs" / f"{algo}_{args.env.replace('/', '__')}" / f"s{seed}"
            run_dir.mkdir(parents=True, exist_ok=True)
            log = (run_dir.parent / f"s{seed}.log").open("w")
            started = time.time()
            proc = subprocess.Popen(train_command(algo, args.env, seed, args, run_dir), stdout=log,
                                    stderr=subprocess.STDOUT, env=thread_env(1))
            running.append((proc, algo, seed, started, run_dir))
            print(f"start  {algo} seed {seed} ({run_dir})", flush=True)
        time.sleep(0.5)
        for item in list(running):
            proc, algo, seed, started, run_dir = item
            if proc.poll() is None:
                continue
            running.remove(item)
            (run_dir / "time_to_walk.json").write_text(json.dumps(
                {"algo": algo, "seed": seed, "env_id": args.env, "started": started, "ended": time.time(),
                 "returncode": proc.returncode}, indent=2) + "\n")
            print(f"finish {algo} seed {seed}: exit {proc.returncode}, {time.time() - started:.0f} s", flush=True)


def collect(out: Path, finish: int, falls: int) -> list[dict[str, Any]]:
    rows = []
    for marker in sorted(out.glob("runs/*/s*/time_to_walk.json")):
        meta = json.loads(marker.read_text())
        records = RunFolder(marker.parent).read_evals()
        evals = []
        for r in records:
            finished, fell, _ = walk_record(r, finish, falls)
            evals.append({"step": r["step"], "seconds": r["unix_time"] - meta["started"],
                          "mean_return": r["mean_return"], "finished": finished, "fell": fell,
                          "episodes": len(r.get("infos", []))})
        rows.append({**meta, **time_to_walk(records, meta["started"], finish, falls),
                     "process_seconds": meta["ended"] - meta["started"], "evals": evals})
    return rows


def report(rows: list[dict[str, Any]], out: Path, args: argparse.Namespace) -> str:
    lines = [f"# Time to walk: {args.env}", "",
             f"CPU: {cpu_name()}; walking = at least {args.finish} of "
             f"{args.episodes} evaluation episodes finish the course with at most {args.falls} falls, "
             f"evaluated every {args.eval_freq:,} env steps; one BLAS thread per run, {args.jobs} run(s) at a time.",
             "", "| algo | seed | walked at steps | seconds from start | train seconds | stays walking | "
             "final eval (finished / falls) | run seconds |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        last = r["evals"][-1] if r["evals"] else None
        final = f"{last['finished']}/{last['episodes']} / {last['fell']}" if last else "–"
        if r["walked"]:
            lines.append(f"| {r['algo']} | {r['seed']} | {r['steps']:,} | {r['seconds']:.1f} | "
                         f"{r['train_seconds']:.1f} | {'yes' if r['stays_walking'] else 'no'} | {final} | "
                         f"{r['process_seconds']:.0f} |")
        else:
            lines.append(f"| {r['algo']} | {r['seed']} | never | – | – | – | {final} | {r['process_seconds']:.0f} |")
    lines += ["", "| algo | seeds walked | median steps | median seconds | median train seconds |", "|---|---|---|---|---|"]
    for algo in sorted({r["algo"] for r in rows}):
        mine = [r for r in rows if r["algo"] == algo]
        walked = [r for r in mine if r["walked"]]
        medians = [f"{statistics.median(r[key] for r in walked):,.1f}" if len(walked) == len(mine)
                   else "– (not every seed walked)" for key in ("steps", "seconds", "train_seconds")]
        lines.append(f"| {algo} | {len(walked)} of {len(mine)} | {' | '.join(medians)} |")
    text = "\n".join(lines) + "\n\n![curves](curves.png)\n"
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    draw(rows, out / "curves.png")
    return text


def draw(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colors: dict[str, Any] = {}
    for r in rows:
        color = colors.setdefault(r["algo"], f"C{len(colors)}")
        frac = [e["finished"] / max(e["episodes"], 1) for e in r["evals"]]
        for ax, key in zip(axes, ("step", "seconds")):
            ax.plot([e[key] for e in r["evals"]], frac, color=color, alpha=0.8,
                    label=r["algo"] if r["seed"] == min(x["seed"] for x in rows if x["algo"] == r["algo"]) else None)
    for ax, label in zip(axes, ("env steps", "seconds from rlnn train start")):
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("episodes that finish the course")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmarks.time_to_walk", description=__doc__.split("\n")[0])
    parser.add_argument("--algo", action="append", help="repeatable (default: sac)")
    parser.add_argument("--env", default="rlnn/Walker-v0")
    parser.add_argument("--seeds", default="0-2", help="e.g. 0-2 or 0,3")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: the config's)")
    parser.add_argument("--eval-freq", type=int, default=5000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--finish", type=int, default=18, help="episodes that must finish (default 18)")
    parser.add_argument("--falls", type=int, default=1, help="falls allowed (default 1)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", action="append", help="KEY=VALUE passed to rlnn train (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/time_to_walk"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    args.algo = args.algo or ["sac"]
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        run_all(args, args.out)
    print(report(collect(args.out, args.finish, args.falls), args.out, args))


if __name__ == "__main__":
    main()
