"""The README's results table, from run folders.

    python -m experiments.results RUN_DIR [RUN_DIR ...] [--episodes 20] [--json FILE]

For each run folder: its algorithm, environment, seed and env steps (``run.json``), its training
wall time (the last ``metrics.csv`` row) and a fresh deterministic evaluation of ``final.npz``
over ``--episodes`` episodes on the evaluation seeds (never used in training), with the mean of
each numeric ``info`` entry (the walker's ``distance``, ``fell``, ``finished``). Runs of the same
algorithm and task are then summarised: per-seed means, their mean ± std, the median wall time.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path
from typing import Any


def evaluate_run(run_dir: Path, episodes: int) -> dict[str, Any]:
    import gymnasium as gym

    import envs  # noqa: F401  (registers the walker ids)
    from agents.checkpoint import load_agent
    from agents.evaluation import evaluate

    info = json.loads((run_dir / "run.json").read_text())
    agent, meta = load_agent(run_dir / "final.npz")
    env = gym.make(info["env_id"], **info.get("env_kwargs", {}))
    result = evaluate(lambda o: agent.act(o, deterministic=True), env, episodes)
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {"run": str(run_dir), "algo": info["algo"], "env_id": info["env_id"], "seed": info["seed"],
            "steps": int(meta.get("step", info["total_steps"])), "wall_time_s": float(rows[-1]["time"]),
            **result.to_json()}


def summarise(rows: list[dict[str, Any]], episodes: int) -> str:
    lines = [f"| task | algorithm | env steps | seeds | final mean return per seed ({episodes} episodes) | mean ± std | "
             "median wall time | info means |", "|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["env_id"], r["algo"]), []).append(r)
    for (env_id, algo), runs in groups.items():
        runs.sort(key=lambda r: r["seed"])
        means = [r["mean_return"] for r in runs]
        spread = statistics.pstdev(means) if len(means) > 1 else 0.0
        infos = {k: statistics.mean(r["info_means"][k] for r in runs) for k in runs[0]["info_means"]}
        info_text = ", ".join(f"{k} {v:.2f}" for k, v in infos.items()) or "–"
        lines.append(f"| {env_id} | {algo} | {runs[0]['steps']:,} | {', '.join(str(r['seed']) for r in runs)} | "
                     f"{' / '.join(f'{m:.1f}' for m in means)} | {statistics.mean(means):.1f} ± {spread:.1f} | "
                     f"{statistics.median(r['wall_time_s'] for r in runs):.0f} s | {info_text} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = [evaluate_run(run, args.episodes) for run in args.runs]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(summarise(rows, args.episodes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
