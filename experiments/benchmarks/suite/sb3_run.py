"""One Stable-Baselines3 run of a suite, in a process of its own (extra ``bench``)::

    python -m experiments.benchmarks.suite.sb3_run RUN_DIR

The run is the one ``RUN_DIR/suite_run.json`` describes (written by the suite, a
:meth:`~experiments.benchmarks.suite.spec.Run.spec`; read as data, its env id checked to be a
plain registered one). The settings are the ones ``rlnn train`` would merge for the same run
(the tuned file unless ``tuned`` is false, then the entry's ``config``), handed to SB3 by
:func:`experiments.benchmarks.sb3_mapping.sb3_setup` (the comparison's mapping too: ``n_envs``
envs, ``VecNormalize`` for PPO and A2C); keys SB3 has no equivalent for are listed in the
result. PyTorch and BLAS run one thread. While it learns, :func:`eval_log` writes
``RUN_DIR/metrics.csv`` in rlnn's shape (a row per episode and per evaluation, the evaluations
on rlnn's evaluation seeds, every ``eval_freq`` steps), so the suite draws both libraries'
curves alike. Then the final policy plays 20 deterministic episodes on the evaluation seeds
through ``model.predict`` (:func:`~experiments.benchmarks.sb3_mapping.sb3_policy`: observations
normalized as in training), and the result is printed as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from agents.evaluation import EVAL_SEED_OFFSET, evaluate
from experiments.benchmarks.suite.runner import FINAL_EVAL_EPISODES, eval_summary


def eval_log(run_dir: Path, eval_env: Any, eval_freq: int, episodes: int, start: float) -> Any:
    """An SB3 callback writing rlnn's ``metrics.csv`` rows: one per finished episode (its return
    and length, from SB3's ``Monitor``) and one per evaluation (``episodes`` deterministic
    episodes on the evaluation seeds every ``eval_freq`` env steps; 0: none). ``time`` is the
    wall time since ``start`` (``time.perf_counter``), evaluations included, as rlnn counts it."""
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.loop import METRIC_COLUMNS
    from agents.run_folder import RunFolder
    from experiments.benchmarks.sb3_mapping import sb3_policy

    folder = RunFolder(run_dir)

    class EvalLog(BaseCallback):
        episode = 0

        def _on_step(self) -> bool:     # SB3 calls this after every env step
            step, now = self.num_timesteps, time.perf_counter() - start
            for info in self.locals.get("infos", ()):
                if "episode" in info:
                    self.episode += 1
                    folder.append_metrics({"kind": "episode", "step": step, "episode": self.episode,
                                           "return": float(info["episode"]["r"]), "length": int(info["episode"]["l"]),
                                           "time": now, "steps_per_s": step / max(now, 1e-9)}, list(METRIC_COLUMNS))
            if eval_freq and step % eval_freq == 0:
                result = evaluate(sb3_policy(self.model), eval_env, episodes)
                folder.append_metrics({"kind": "eval", "step": step, "episode": self.episode,
                                       "time": time.perf_counter() - start, "eval_mean_return": result.mean_return,
                                       "eval_std_return": result.std_return}, list(METRIC_COLUMNS))
            return True

    return EvalLog()


def run(spec: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Train and evaluate the SB3 run ``spec`` (a :meth:`Run.spec`) into ``run_dir``."""
    import stable_baselines3
    import torch

    from experiments.benchmarks.sb3_mapping import sb3_policy, sb3_setup
    from experiments.configs import Layer, merge_config
    from experiments.training import make_env

    torch.set_num_threads(1)
    layer = Layer("suite entry", spec["config"],
                  {"total_steps": spec["steps"], "env_kwargs": spec["env_kwargs"],
                   **({"eval_freq": spec["eval_freq"]} if spec.get("eval_freq") is not None else {})})
    merged = merge_config(spec["algo"], spec["env_id"], [layer], tuned=spec["tuned"])
    eval_env = make_env(spec["env_id"], **merged.env_kwargs)
    model, unused = sb3_setup(spec["algo"], lambda: make_env(spec["env_id"], **merged.env_kwargs),
                              merged.hyperparameters, spec["seed"])
    start = time.perf_counter()
    model.learn(total_timesteps=spec["steps"],
                callback=eval_log(run_dir, eval_env, merged.eval_freq, merged.eval_episodes, start))
    wall = time.perf_counter() - start
    final = evaluate(sb3_policy(model), eval_env, FINAL_EVAL_EPISODES)
    return {"wall_time_s": wall, "steps_per_s": spec["steps"] / wall,
            "eval": eval_summary({"seed": EVAL_SEED_OFFSET, **final.to_json()}),
            "config": merged.hyperparameters, "config_sources": merged.sources,
            "config_layers": list(merged.layers), "sb3_unused": unused,
            "versions": {"stable_baselines3": stable_baselines3.__version__, "torch": torch.__version__}}


def read_spec(run_dir: Path) -> dict[str, Any]:
    """The run ``run_dir/suite_run.json`` describes, checked enough to be used as data."""
    from agents.safety import registered_env_id
    from experiments.benchmarks.suite.state import SPEC_FILE, read_json

    spec = read_json(run_dir / SPEC_FILE)
    keys = {"algo": str, "env_id": str, "seed": int, "steps": int, "tuned": bool, "config": dict, "env_kwargs": dict}
    if spec is None or any(not isinstance(spec.get(k), kind) for k, kind in keys.items()):
        raise ValueError(f"{run_dir / SPEC_FILE} is missing or damaged; the suite writes it when the run starts")
    spec["env_id"] = registered_env_id(spec["env_id"], str(run_dir / SPEC_FILE))
    return spec


def main(argv: list[str] | None = None) -> int:
    """Exit code 0 with the result on stdout; 2 with one line on stderr for a setting SB3 or
    the env refuses; 130 when interrupted (the suite starts an unfinished SB3 run again)."""
    (run_dir,) = sys.argv[1:] if argv is None else argv
    try:
        print(json.dumps(run(read_spec(Path(run_dir)), Path(run_dir))))
    except KeyboardInterrupt:
        print("sb3_run: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as exc:   # UsageError included: a bad setting or a missing backend
        print(f"sb3_run: error: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
