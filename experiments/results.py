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
import sys
from pathlib import Path
from typing import Any


def evaluate_run(run_dir: Path, episodes: int) -> dict[str, Any]:
    """Evaluate one run folder. ``run.json`` is read as untrusted (its env id must be a plain,
    registered Gymnasium id: one of the form ``module:Env`` would import ``module``); a missing
    or malformed file is a one-line ``ValueError`` naming it."""
    import gymnasium as gym

    from agents.checkpoint import load_agent
    from agents.evaluation import evaluate
    from agents.safety import registered_env_id, shown

    info_path = run_dir / "run.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{info_path}: cannot read it ({exc.__class__.__name__}: {exc})") from None
    except (ValueError, RecursionError):
        raise ValueError(f"{info_path}: not valid JSON") from None
    if not isinstance(info, dict):
        raise ValueError(f"{info_path}: must hold a JSON object")  # noqa: TRY004
    env_id = registered_env_id(info.get("env_id"), str(info_path))
    env_kwargs = info.get("env_kwargs", {})
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"{info_path}: env_kwargs must be a JSON object, got {shown(env_kwargs)}")
    for key, kind in (("algo", str), ("seed", int), ("total_steps", int)):
        if not isinstance(info.get(key), kind) or isinstance(info.get(key), bool):
            raise ValueError(f"{info_path}: needs {key!r} as a {kind.__name__}, got {shown(info.get(key))}")
    agent, meta = load_agent(run_dir / "final.npz")
    try:
        env = gym.make(env_id, **env_kwargs)
    except (TypeError, ValueError, gym.error.Error) as exc:
        raise ValueError(f"{info_path}: cannot make {shown(env_id)} with its env_kwargs: {exc}") from None
    result = evaluate(lambda o: agent.act(o, deterministic=True), env, episodes)
    metrics = run_dir / "metrics.csv"
    try:
        with metrics.open(newline="") as f:
            times = [row.get("time") for row in csv.DictReader(f)]
        wall_time = float(next(t for t in reversed(times) if t not in (None, "")))
    except (OSError, ValueError, StopIteration, csv.Error):
        raise ValueError(f"{metrics}: missing, or without a readable time in its rows") from None
    steps = meta.get("step", info["total_steps"])
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise ValueError(f"{run_dir / 'final.npz'}: its step must be an integer, got {shown(steps)}")
    return {"run": str(run_dir), "algo": info["algo"], "env_id": env_id, "seed": info["seed"],
            "steps": steps, "wall_time_s": wall_time, **result.to_json()}


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
    try:
        rows = [evaluate_run(run, args.episodes) for run in args.runs]
    except (ValueError, OSError) as exc:   # a bad run folder: one line, not a traceback
        print(f"error: {str(exc).splitlines()[0] if str(exc) else exc!r}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print(summarise(rows, args.episodes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
