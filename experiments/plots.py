"""Learning curves from run folders (``metrics.csv``): mean and spread across runs."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np


def read_metrics(run_dir: str | Path) -> dict[str, list[dict[str, str]]]:
    """Rows of ``metrics.csv`` split by kind: ``{"episode": [...], "eval": [...]}``."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise ValueError(f"{run_dir} has no metrics.csv")
    rows: dict[str, list[dict[str, str]]] = {"episode": [], "eval": []}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["kind"], []).append(row)
    return rows


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Run folders among ``paths``: a folder with ``metrics.csv``, or every such folder below one."""
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "metrics.csv").is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(m.parent for m in p.rglob("metrics.csv"))
    return found


def _curve(rows: list[dict[str, str]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    if not pts:
        return np.zeros(0), np.zeros(0)
    steps, values = np.array(pts).T
    return steps, values


def plot_runs(run_dirs: list[str | Path], out: str | Path, title: str | None = None) -> Path:
    """Plot episode returns (smoothed) and evaluation returns of one or more runs.

    Several runs are drawn as the mean over runs with a band of ± one standard deviation,
    on a common grid of env steps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [read_metrics(d) for d in run_dirs]
    max_step = max((float(r["step"]) for m in runs for r in m["episode"]), default=1.0)
    grid = np.linspace(0, max_step, 200)
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, key, label in (("episode", "return", "training episodes"), ("eval", "eval_mean_return", "evaluation")):
        curves = []
        for m in runs:
            steps, values = _curve(m[kind], key)
            if len(steps) == 0:
                continue
            if kind == "episode" and len(values) > 10:  # a running mean over 10 episodes
                values = np.convolve(values, np.ones(10) / 10, mode="valid")
                steps = steps[9:]
            curves.append(np.interp(grid, steps, values, left=np.nan, right=np.nan))
        if not curves:
            continue
        stack = np.array(curves)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(stack, axis=0)
            std = np.nanstd(stack, axis=0)
        line, = ax.plot(grid, mean, label=label + (f" (mean of {len(curves)})" if len(curves) > 1 else ""))
        if len(curves) > 1:
            ax.fill_between(grid, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    ax.set_title(title or ", ".join(Path(d).name for d in run_dirs)[:80])
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
