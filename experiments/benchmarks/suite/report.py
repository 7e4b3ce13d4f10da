"""The suite's aggregate, from the per-run result files: ``OUT/report.md``, ``OUT/report.json`` and
``OUT/curves/ENTRY.png``.

Per entry and library: the final mean return of each seed (20 deterministic episodes), their
mean ± standard deviation over seeds (population, as the README's results table), the seeds
meeting the goal out of the seeds run, and whether the goal is *met* (enough seeds meet it),
*not met* (too few can still meet it) or *open* (seeds still to run could decide it), the median
wall time and the mean env steps per second. Where both libraries ran an entry, rlnn − SB3 of
the means with twice its standard error, √(s²_rlnn/n_rlnn + s²_SB3/n_SB3) (sample variances):
"within noise" when the difference is smaller than that.

The curves: each run's in-training evaluations (``metrics.csv`` eval rows; SB3's written by
:func:`experiments.benchmarks.suite.sb3_run.eval_log` in the same shape), interpolated on a
common grid, mean and ± one standard deviation over seeds, against env steps and against wall
time, one line per library, the goal dashed.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks.suite.spec import LIBS, Entry, Goal, Suite, plan_runs
from experiments.benchmarks.suite.state import SPEC_FILE, RunPaths, read_json, read_result

MET, NOT_MET, OPEN = "met", "not met", "open"
LIB_NAMES = {"rlnn": "rlnn", "sb3": "SB3"}


# -- the figures --------------------------------------------------------------------------------
def goal_status(goal: Goal | None, returns: Sequence[float], planned: int) -> tuple[int | None, str]:
    """``(seeds meeting the goal, status)``: met once ``goal.seeds`` seeds reach the threshold,
    not met once the seeds still to run (``planned`` − run) could no longer make up the
    difference, open in between. Without a goal: ``(None, "–")``."""
    if goal is None:
        return None, "–"
    meeting = sum(r >= goal.threshold for r in returns)
    if meeting >= goal.seeds:
        return meeting, MET
    return meeting, NOT_MET if meeting + planned - len(returns) < goal.seeds else OPEN


def summarise(entry: Entry, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One library's figures for ``entry`` from its runs' results (sorted by seed)."""
    results = sorted(results, key=lambda r: r["seed"])
    returns = [float(r["eval"]["mean_return"]) for r in results]
    walls = [r["wall_time_s"] for r in results if r.get("wall_time_s")]
    rates = [r["steps_per_s"] for r in results if r.get("steps_per_s")]
    meeting, status = goal_status(entry.goal, returns, len(entry.seeds))
    return {"seeds": [r["seed"] for r in results], "returns": returns,
            "mean": statistics.fmean(returns) if returns else None,
            "std": statistics.pstdev(returns) if returns else None,
            "seeds_run": len(returns), "seeds_planned": len(entry.seeds), "meeting_goal": meeting, "status": status,
            "wall_time_s": walls, "median_wall_time_s": statistics.median(walls) if walls else None,
            "mean_steps_per_s": statistics.fmean(rates) if rates else None,
            "cpus": sorted({r.get("cpu", "?") for r in results})}


def compare(rlnn: dict[str, Any], sb3: dict[str, Any]) -> dict[str, Any] | None:
    """rlnn − SB3 of the mean returns, twice its standard error and a verdict; ``None`` unless
    both have at least two seeds."""
    a, b = rlnn["returns"], sb3["returns"]
    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    two_se = 2 * math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    verdict = "rlnn ≥ SB3" if diff >= 0 else "within noise" if -diff <= two_se else "SB3 ahead"
    walls = rlnn["median_wall_time_s"], sb3["median_wall_time_s"]
    return {"difference": diff, "two_standard_errors": two_se, "verdict": verdict,
            "sb3_over_rlnn_wall": walls[1] / walls[0] if all(walls) else None}


def aggregate(suite: Suite, out: Path, no_tuned: bool = False) -> dict[str, Any]:
    """Every entry of ``suite`` with the figures of each library that has results in ``out``."""
    runs = plan_runs(suite, LIBS, no_tuned)
    results = [(run, r) for run in runs if (r := read_result(out, run)) is not None]
    entries = []
    for entry in suite.entries:
        libs = {lib: summarise(entry, [r for run, r in results if run.entry.name == entry.name and run.lib == lib])
                for lib in LIBS}
        libs = {lib: s for lib, s in libs.items() if s["seeds_run"]}
        both = compare(libs["rlnn"], libs["sb3"]) if len(libs) == 2 else None
        entries.append({"name": entry.name, "algo": entry.algo, "env_id": entry.env_id, "steps": entry.steps,
                        "goal": None if entry.goal is None else {"threshold": entry.goal.threshold,
                                                                 "seeds": entry.goal.seeds},
                        "seeds_planned": len(entry.seeds), "reference": entry.reference, "libs": libs,
                        "rlnn_vs_sb3": both,
                        "curve": f"curves/{entry.name}.png"})
    done = {lib: sum(run.lib == lib for run, _ in results) for lib in LIBS}
    planned = {lib: sum(run.lib == lib for run in runs) for lib in LIBS}
    return {"suite": suite.name, "file": str(suite.path), "tuned": not no_tuned,
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "runs_done": done, "runs_planned": planned,
            "cpus": sorted({r.get("cpu", "?") for _, r in results}), "entries": entries}


# -- Markdown -----------------------------------------------------------------------------------
def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s" if value < 100 else f"{value:,.0f} s"


def _counts(agg: dict[str, Any]) -> str:
    """``rlnn 3 of 10, SB3 2 of 6`` (SB3 only once it has results)."""
    done, planned = agg["runs_done"], agg["runs_planned"]
    return ", ".join(f"{LIB_NAMES[lib]} {done[lib]} of {planned[lib]}" for lib in LIBS if lib == "rlnn" or done[lib])


def _goal_text(entry: dict[str, Any]) -> str:
    goal = entry["goal"]
    return "–" if goal is None else f"≥ {goal['threshold']:g} on {goal['seeds']} seeds"


def markdown(agg: dict[str, Any]) -> str:
    configs = "tuned configs" if agg["tuned"] else "tuned files switched off (defaults)"
    lines = [f"# Suite {agg['suite']}: {configs}", "",
             f"Runs with results: {_counts(agg)}; generated "
             f"{agg['generated']} from `{agg['file']}`; CPU: {', '.join(agg['cpus']) or '–'}. Each seed's figure "
             f"is the mean return of its final policy over 20 deterministic episodes on seeds training never "
             f"used; ± is the standard deviation over seeds.", "",
             "| algo | task | steps | lib | seeds run | final return per seed | mean ± std | goal | seeds meeting "
             "| status | median wall | steps/s | reference |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in agg["entries"]:
        head = f"| {e['algo']} | {e['env_id']} | {e['steps']:,} |"
        if not e["libs"]:
            lines.append(f"{head} – | 0 of {e['seeds_planned']} | not run yet | – | {_goal_text(e)} | – | – | – "
                         f"| – | {e['reference'] or '–'} |")
        for lib, s in e["libs"].items():
            per_seed = " / ".join(f"{r:.1f}" for r in s["returns"])
            meeting = "–" if s["meeting_goal"] is None else f"{s['meeting_goal']} of {s['seeds_run']}"
            lines.append(f"{head} {LIB_NAMES[lib]} | {s['seeds_run']} of {s['seeds_planned']} | {per_seed} | "
                         f"{_num(s['mean'])} ± {_num(s['std'])} | {_goal_text(e)} | {meeting} | {s['status']} | "
                         f"{_seconds(s['median_wall_time_s'])} | {_num(s['mean_steps_per_s'], 0)} | "
                         f"{e['reference'] or '–'} |")
    pairs = [e for e in agg["entries"] if len(e["libs"]) == 2]
    if pairs:
        lines += ["", "## rlnn and Stable-Baselines3, same hyperparameters", "",
                  "| algo | task | steps | rlnn mean ± std (seeds) | SB3 mean ± std (seeds) "
                  "| rlnn − SB3 (± 2 s.e.) | verdict | rlnn median wall | SB3 median wall | SB3 / rlnn wall |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for e in pairs:
            a, b, c = e["libs"]["rlnn"], e["libs"]["sb3"], e["rlnn_vs_sb3"]
            diff = "–" if c is None else f"{c['difference']:+.1f} (± {c['two_standard_errors']:.1f})"
            ratio = "–" if c is None or c["sb3_over_rlnn_wall"] is None else f"{c['sb3_over_rlnn_wall']:.2f}x"
            lines.append(f"| {e['algo']} | {e['env_id']} | {e['steps']:,} | {_num(a['mean'])} ± {_num(a['std'])} "
                         f"({a['seeds_run']}) | {_num(b['mean'])} ± {_num(b['std'])} ({b['seeds_run']}) | {diff} | "
                         f"{'–' if c is None else c['verdict']} | {_seconds(a['median_wall_time_s'])} | "
                         f"{_seconds(b['median_wall_time_s'])} | {ratio} |")
    drawn = [e for e in agg["entries"] if e.get("curve_drawn")]
    if drawn:
        lines += ["", "## Learning curves", ""]
        lines += [f"![{e['algo']} {e['env_id']}]({e['curve']})" for e in drawn]
    return "\n".join(lines) + "\n"


# -- curves -------------------------------------------------------------------------------------
def eval_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(env steps, wall seconds, mean return)`` of a run's in-training evaluations."""
    from experiments.plots import read_metrics

    points = []
    for row in read_metrics(run_dir)["eval"]:
        try:
            points.append([float(row["step"]), float(row["time"]), float(row["eval_mean_return"])])
        except (TypeError, ValueError):    # a row cut by a kill mid-write
            continue
    table = np.array(points).reshape(-1, 3)
    return table[:, 0], table[:, 1], table[:, 2]


def mean_band(curves: Sequence[tuple[np.ndarray, np.ndarray]], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over runs of curves ``(x, y)`` interpolated on ``grid``; a run
    counts only between its first and last point (NaN where no run has a point)."""
    stack = np.array([np.interp(grid, x, y, left=np.nan, right=np.nan) for x, y in curves])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # grid points no run reaches
        return np.nanmean(stack, axis=0), np.nanstd(stack, axis=0)


def draw_curves(title: str, runs: dict[str, list[Path]], out: Path, goal: float | None = None) -> Path | None:
    """Two panels (against env steps, against wall time) of the mean and spread over each
    library's ``runs``; ``None`` when no run has an evaluation yet."""
    curves = {lib: [c for c in map(eval_curve, dirs) if len(c[0])] for lib, dirs in runs.items()}
    curves = {lib: c for lib, c in curves.items() if c}
    if not curves:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, axis, label in ((axes[0], 0, "env steps"), (axes[1], 1, "wall time (s)")):
        end = max(float(c[axis].max()) for lib_curves in curves.values() for c in lib_curves)
        grid = np.linspace(0.0, end, 200)
        for lib, lib_curves in curves.items():
            mean, std = mean_band([(c[axis], c[2]) for c in lib_curves], grid)
            line, = ax.plot(grid, mean, label=f"{LIB_NAMES[lib]} (mean of {len(lib_curves)})")
            ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        if goal is not None:
            ax.axhline(goal, color="grey", linestyle="--", linewidth=1, label="goal")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("evaluation return")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def entry_run_dirs(suite: Suite, entry: Entry, out: Path, no_tuned: bool) -> dict[str, list[Path]]:
    """The run folders of ``entry`` with a ``metrics.csv``, by library (unfinished runs too: their
    curves end where they are), only those started for the run the suite now asks for."""
    dirs: dict[str, list[Path]] = {}
    for run in plan_runs(suite, LIBS, no_tuned):
        paths = RunPaths(out, run)
        if run.entry.name == entry.name and (paths.run_dir / "metrics.csv").is_file() \
                and read_json(paths.run_dir / SPEC_FILE) == run.spec():
            dirs.setdefault(run.lib, []).append(paths.run_dir)
    return dirs


def write_report(suite: Suite, out: Path, no_tuned: bool = False,
                 curves_of: Sequence[str] | None = None) -> list[Path]:
    """Write ``report.md`` and ``report.json`` and redraw the curves of the entries named in
    ``curves_of`` (all when ``None``); the paths written."""
    from agents.run_folder import write_atomic

    agg = aggregate(suite, out, no_tuned)
    written = []
    for e in agg["entries"]:
        entry, png = suite.entry(e["name"]), out / e["curve"]
        if curves_of is None or entry.name in curves_of:
            drawn = draw_curves(f"{entry.algo} {entry.env_id} ({entry.steps:,} steps)",
                                entry_run_dirs(suite, entry, out, no_tuned), png,
                                None if entry.goal is None else entry.goal.threshold)
            written += [drawn] if drawn else []
        e["curve_drawn"] = png.is_file()
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "report.json", json.dumps(agg, indent=2) + "\n")
    write_atomic(out / "report.md", markdown(agg))
    return [out / "report.md", out / "report.json", *written]
