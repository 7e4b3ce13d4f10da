"""A sweep's results, from its run folders alone: one record per trial, the configurations
grouped over seeds (mean ± std of the final evaluation), the best one; written as
``summary.json``, ``summary.md`` and ``curves.png``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from experiments.sweep.spec import SweepSpec

TRIALS_DIR = "trials"  # our run folders inside the sweep folder


def short(value: Any) -> str:
    """A value as trial names and tables show it: floats to 3 digits, lists joined by '-'."""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "-".join(map(short, value))
    return str(value)


def _trial_record(run_dir: Path, errors: dict[str, str]) -> dict[str, Any]:
    from experiments.plots import read_metrics

    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    evals = read_metrics(run_dir)["eval"]
    means = [float(r["eval_mean_return"]) for r in evals]
    if run_dir.name in errors:
        status = "error"
    elif (run_dir / "final.npz").is_file():
        status = "done"
    else:
        status = "stopped"  # early-stopped by the scheduler, or not finished
    final = evals[-1] if evals else None
    return {"trial": run_dir.name, "run_dir": str(run_dir), "params": info.get("params", {}),
            "seed": info.get("seed"), "steps": int(final["step"]) if final else 0, "status": status,
            "final_eval_mean": float(final["eval_mean_return"]) if final else None,
            "final_eval_std": float(final["eval_std_return"]) if final else None,
            "best_eval_mean": max(means) if means else None, "config": info.get("config", {})}


def _groups(trials: list[dict[str, Any]], spec: SweepSpec) -> list[dict[str, Any]]:
    """Trials with the same hyperparameters (all but the seed), with mean ± std over seeds of the
    final evaluation of the chosen metric, best first."""
    import numpy as np

    column = "final_eval_mean" if spec.metric == "eval_mean_return" else "final_eval_std"
    by_params: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        params = {k: v for k, v in t["params"].items() if k != "seed"}
        by_params.setdefault(json.dumps(params, sort_keys=True), []).append(t)
    groups = []
    for key, members in by_params.items():
        values = [t[column] for t in members if t[column] is not None]
        groups.append({"params": json.loads(key), "trials": [t["trial"] for t in members],
                       "seeds": [t["seed"] for t in members], "n": len(values),
                       "mean": float(np.mean(values)) if values else None,
                       "std": float(np.std(values)) if values else None, "config": members[0]["config"]})
    sign = -1.0 if spec.mode == "max" else 1.0
    groups.sort(key=lambda g: math.inf if g["mean"] is None else sign * g["mean"])
    return groups


def summarize(out: Path, spec: SweepSpec, errors: dict[str, str] | None = None) -> dict[str, Any]:
    """``summary.json``, ``summary.md`` and ``curves.png`` of the sweep folder, from its run folders."""
    from experiments.plots import find_runs, plot_runs

    runs = find_runs([out / TRIALS_DIR])
    trials = [_trial_record(r, errors or {}) for r in runs]
    groups = _groups(trials, spec)
    summary = {"name": spec.name, "algo": spec.algo, "env_id": spec.env_id, "total_steps": spec.total_steps,
               "metric": spec.metric, "mode": spec.mode, "trials": trials, "configs": groups,
               "best": groups[0] if groups else None, "errors": errors or {}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(summary_markdown(summary))
    if runs:
        plot_runs(runs, out / "curves.png", title=f"{spec.algo} on {spec.env_id}: {len(runs)} run(s), mean ± std")
    return summary


def _pm(mean: float | None, std: float | None) -> str:
    return "–" if mean is None else f"{mean:.1f} ± {std:.1f}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={short(v)}" for k, v in sorted(params.items())) or "(fixed config)"


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as Markdown: trials, then configurations over seeds, then the best one."""
    title = (f"## Sweep {summary['name']}: {summary['algo']} on {summary['env_id']}, "
             f"{len(summary['trials'])} trial(s) x {summary['total_steps']} steps")
    lines = [title, "",
             "| trial | params | steps | final eval (mean ± std over episodes) | best eval | status |",
             "|---|---|---:|---:|---:|---|"]
    for t in summary["trials"]:
        best = "–" if t["best_eval_mean"] is None else f"{t['best_eval_mean']:.1f}"
        lines.append(f"| {t['trial']} | {_params_text(t['params'])} | {t['steps']} | "
                     f"{_pm(t['final_eval_mean'], t['final_eval_std'])} | {best} | {t['status']} |")
    lines += ["", f"Final {summary['metric']} per configuration, mean ± std over seeds (runs):", "",
              "| config | seeds | mean ± std |", "|---|---|---:|"]
    for g in summary["configs"]:
        lines.append(f"| {_params_text(g['params'])} | {', '.join(map(str, g['seeds']))} | {_pm(g['mean'], g['std'])} |")
    best = summary["best"]
    if best is not None:
        lines += ["", (f"Best config ({summary['mode']} {summary['metric']}): {_params_text(best['params'])} — "
                       f"{_pm(best['mean'], best['std'])} over {best['n']} run(s)")]
    for trial, message in summary["errors"].items():
        lines.append(f"- error in {trial}: {message}")
    return "\n".join(lines) + "\n"
