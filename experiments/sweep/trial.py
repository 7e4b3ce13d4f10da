"""One trial of a sweep: the Ray Tune function trainable, which is an ordinary training run into
an ordinary run folder that reports each evaluation to Tune."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from experiments.sweep.spec import SweepSpec, flat_params, make_agent
from experiments.sweep.summary import short


def trial_name(trial: Any) -> str:
    """``00003_seed=1_learning_rate=0.00123``: the trial's index and its sampled values. Ray keeps
    trial ids across a restore, so a resumed trial finds its run folder again."""
    index = str(trial.trial_id).rsplit("_", 1)[-1]
    slug = "_".join(f"{k}={short(v)}" for k, v in sorted(flat_params(trial.config).items()))
    return re.sub(r"[^\w.=\-]", "", f"{index}_{slug}" if slug else index)[:120]


def _last_eval_row(run_dir: Path) -> dict[str, str] | None:
    from experiments.plots import read_metrics
    try:
        rows = read_metrics(run_dir)["eval"]
    except ValueError:
        return None
    return rows[-1] if rows else None


def _eval_report(step: int, episodes: int, mean: float, std: float) -> dict[str, Any]:
    return {"eval_mean_return": float(mean), "eval_std_return": float(std), "step": int(step),
            "episodes": int(episodes)}


def _new_trainer(sweep: SweepSpec, params: dict[str, Any], run_dir: Path, name: str, on_eval: Any) -> Any:
    """A fresh trial run: one lane and one BLAS thread (each trial has a core of its own)."""
    from experiments.training import new_trainer, run_settings

    settings = run_settings(sweep.merged_config(), seed=int(params.get("seed", sweep.seed)), run_dir=run_dir,
                            progress=False, blas_threads=1, lanes=1,
                            run_info={"sweep": sweep.name, "trial": name, "params": params})
    return new_trainer(make_agent(sweep, params), sweep.env_id, settings, on_eval=on_eval)


def run_trial(tune_config: dict[str, Any], spec: dict[str, Any], trials_dir: str) -> None:
    """The Ray Tune function trainable: one ordinary training run, reporting its evaluations.

    Restarted after an interruption, it continues from ``checkpoints/resume.npz`` if the run got
    that far; otherwise the partial folder is cleared and the run starts over."""
    from ray import tune

    from agents.loop import OffPolicyTrainer
    from experiments.training import finish_run

    sweep = SweepSpec.from_json(spec)
    params = flat_params(tune_config)
    name = tune.get_context().get_trial_name()
    run_dir = Path(trials_dir) / name

    def report(trainer: Any, result: Any) -> None:
        # The evaluation at the last step is reported after run() returns: a scheduler decision
        # to stop on it must not cut the run before final.npz is written.
        if trainer.step < trainer.total_steps:
            tune.report(_eval_report(trainer.step, trainer.episode, result.mean_return, result.std_return))

    if (run_dir / "checkpoints" / "resume.npz").is_file():
        trainer = OffPolicyTrainer.resume(run_dir, progress=False, on_eval=report)
    else:
        if run_dir.exists():  # died before its first checkpoint: nothing to continue from
            shutil.rmtree(run_dir)
        trainer = _new_trainer(sweep, params, run_dir, name, report)
    trainer.run()
    last = _last_eval_row(run_dir)
    if last is None or int(last["step"]) != trainer.step:
        trainer._evaluate(0.0)  # no evaluation at the last step (eval_freq does not divide it): one more
        last = _last_eval_row(run_dir)
    finish_run(trainer, gif=False)  # curve.png, as rlnn train writes
    tune.report(_eval_report(trainer.step, trainer.episode, float(last["eval_mean_return"]),
                             float(last["eval_std_return"])))
