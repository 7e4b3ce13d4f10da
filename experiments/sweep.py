"""Many seeds and hyperparameter sweeps on Ray Tune (the optional extra ``ray``).

    rlnn sweep experiments/sweeps/dqn_cartpole.toml --workers 2 --out runs/sweeps/cartpole
    rlnn train dqn CartPole-v1 --seeds 0-4 --out runs/cartpole_seeds

We do not schedule anything ourselves: every trial is a plain Ray Tune function trainable that
runs the ordinary ``OffPolicyTrainer`` and writes the same run folder ``rlnn train`` writes, under
``<out>/trials/<trial name>/``. Ray's own state lives in ``<storage>/tune`` (``storage`` defaults to
the sweep folder), so ``--resume`` restores the sweep, and a restarted trial continues from its
run folder's ``checkpoints/resume.npz`` (exactly, as ``rlnn train --resume`` does).

A spec (TOML)::

    name = "dqn_cartpole"            # default: the file name
    algo = "dqn"
    env_id = "CartPole-v1"
    total_steps = 50_000             # per trial (default: the tuned config's)
    eval_freq = 10_000               # env steps between evaluations (they are what Tune sees)
    eval_episodes = 10
    metric = "eval_mean_return"      # or "eval_std_return"
    mode = "max"                     # or "min"
    num_samples = 1                  # configurations drawn from the random entries; each runs every grid point
    [config]                         # fixed hyperparameters, over the tuned config file
    net_arch = [64, 64]
    [search]                         # grid / choice / uniform / loguniform
    seed = {grid = [0, 1, 2]}
    learning_rate = {loguniform = [1e-4, 1e-2]}
    [scheduler]                      # optional early stopping of bad trials
    type = "asha"
    grace_period = 10_000            # env steps
    reduction_factor = 3

After the sweep: ``summary.json``, ``summary.md`` (one row per trial, then mean ± std over seeds
of the final evaluation for each configuration, and the best configuration) and ``curves.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

RAY_HINT = "needs Ray Tune: pip install 'rlnn[ray]'"
SEARCH_KINDS = ("grid", "choice", "uniform", "loguniform")
METRICS = ("eval_mean_return", "eval_std_return")
SPEC_KEYS = {"name", "algo", "env_id", "total_steps", "eval_freq", "eval_episodes", "checkpoint_freq", "seed",
             "metric", "mode", "num_samples", "time_budget_s", "config", "env_kwargs", "search", "scheduler"}
SCHEDULER_KEYS = {"type", "grace_period", "reduction_factor"}
TUNE_DIR = "tune"  # Ray's experiment folder inside the storage path
TRIALS_DIR = "trials"  # our run folders inside the sweep folder


class SpecError(ValueError):
    """A bad sweep spec; the message is one line naming the offending key."""


@dataclasses.dataclass
class SweepSpec:
    """A validated sweep: what to train, what to vary, what to optimise, and the budget."""
    name: str
    algo: str
    env_id: str
    total_steps: int
    eval_freq: int
    eval_episodes: int = 10
    checkpoint_freq: int = 0  # 0: a fifth of total_steps
    seed: int = 0  # used when the search does not vary the seed
    metric: str = "eval_mean_return"
    mode: str = "max"
    num_samples: int = 1
    time_budget_s: float | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    search: dict[str, dict[str, list[Any]]] = dataclasses.field(default_factory=dict)
    scheduler: dict[str, Any] | None = None
    config_source: str = "defaults"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- the spec ---------------------------------------------------------------------------------
def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the 'ray' extra brings tomli
        try:
            import tomli as tomllib
        except ImportError:
            raise SpecError(f"reading {path} needs tomli on Python 3.10: pip install 'rlnn[ray]'") from None
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"sweep spec not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path} is not valid TOML: {exc}") from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec (the name defaults to the file name)."""
    path = Path(path)
    data = _read_toml(path)
    data.setdefault("name", path.stem)
    return parse_spec(data, where=str(path))


def _int(data: dict[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(f"{where}: {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _search_entry(key: str, entry: Any, where: str) -> dict[str, list[Any]]:
    """``{kind = [values]}`` with exactly one kind; ranges are two increasing numbers."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"{where}: search.{key} must be a table with one of {list(SEARCH_KINDS)}, "
                        f"e.g. {key} = {{choice = [1, 2]}}; got {entry!r}")
    (kind, values), = entry.items()
    if kind not in SEARCH_KINDS:
        raise SpecError(f"{where}: search.{key} has unknown kind {kind!r}; accepted: {list(SEARCH_KINDS)}")
    if not isinstance(values, list) or not values:
        raise SpecError(f"{where}: search.{key}.{kind} must be a non-empty list, got {values!r}")
    if kind in ("uniform", "loguniform"):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) != 2 or not numeric or not values[0] < values[1]:
            raise SpecError(f"{where}: search.{key}.{kind} must be [low, high] with low < high, got {values!r}")
        if kind == "loguniform" and values[0] <= 0:
            raise SpecError(f"{where}: search.{key}.loguniform needs low > 0, got {values!r}")
    return {kind: list(values)}


def _scheduler(data: Any, total_steps: int, where: str) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: [scheduler] must be a table")
    unknown = sorted(set(data) - SCHEDULER_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown scheduler key(s) {unknown}; accepted: {sorted(SCHEDULER_KEYS)}")
    kind = data.get("type", "asha")
    if kind == "none":
        return None
    if kind != "asha":
        raise SpecError(f"{where}: scheduler.type must be 'asha' or 'none', got {kind!r}")
    grace = _int(data, "grace_period", where, default=max(total_steps // 10, 1), minimum=1)
    factor = data.get("reduction_factor", 3)
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
        raise SpecError(f"{where}: scheduler.reduction_factor must be a number > 1, got {factor!r}")
    return {"type": "asha", "grace_period": grace, "reduction_factor": factor}


def parse_spec(data: dict[str, Any], where: str = "spec") -> SweepSpec:
    """Validate a spec dict: unknown keys, algorithm, search kinds, budget, metric and mode.

    The fixed hyperparameters go over the tuned config file of (algo, env_id) when there is
    one, which also supplies the default budget (total_steps, eval_freq, eval_episodes)."""
    import agents
    from experiments.configs import tuned_config

    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; accepted: {sorted(SPEC_KEYS)}")
    for key in ("algo", "env_id"):
        if not isinstance(data.get(key), str):
            raise SpecError(f"{where}: {key!r} is required (a string)")
    algo, env_id = data["algo"], data["env_id"]
    if algo not in agents.ALGORITHMS:
        raise SpecError(f"{where}: unknown algo {algo!r}; accepted: {sorted(agents.ALGORITHMS)}")
    for key in ("config", "env_kwargs", "search"):
        if not isinstance(data.get(key, {}), dict):
            raise SpecError(f"{where}: [{key}] must be a table")
    tuned = tuned_config(algo, env_id) or {}
    total = _int(data, "total_steps", where, default=tuned.get("total_steps", 100_000), minimum=1)
    eval_freq = _int(data, "eval_freq", where, default=tuned.get("eval_freq", max(total // 10, 1)), minimum=1)
    metric, mode = data.get("metric", "eval_mean_return"), data.get("mode", "max")
    if metric not in METRICS:
        raise SpecError(f"{where}: metric must be one of {list(METRICS)} (what trials report), got {metric!r}")
    if mode not in ("max", "min"):
        raise SpecError(f"{where}: mode must be 'max' or 'min', got {mode!r}")
    budget = data.get("time_budget_s")
    if budget is not None and (not isinstance(budget, (int, float)) or isinstance(budget, bool) or budget <= 0):
        raise SpecError(f"{where}: time_budget_s must be a positive number of seconds, got {budget!r}")
    random_entries = [k for k, v in data.get("search", {}).items() if not (isinstance(v, dict) and "grid" in v)]
    if data.get("num_samples", 1) != 1 and not random_entries:
        raise SpecError(f"{where}: num_samples draws choice/uniform/loguniform entries and [search] has none; "
                        f"vary seeds with seed = {{grid = [0, 1, 2]}}")
    name = data.get("name", f"{algo}_{env_id}")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.\-]+", name):
        raise SpecError(f"{where}: name must be letters, digits, '_', '-' or '.', got {name!r}")
    return SweepSpec(
        name=name, algo=algo, env_id=env_id, total_steps=total, eval_freq=eval_freq,
        eval_episodes=_int(data, "eval_episodes", where, default=tuned.get("eval_episodes", 10), minimum=1),
        checkpoint_freq=_int(data, "checkpoint_freq", where, default=0),
        seed=_int(data, "seed", where, default=0), metric=metric, mode=mode,
        num_samples=_int(data, "num_samples", where, default=1, minimum=1), time_budget_s=budget,
        config={**tuned.get("hyperparameters", {}), **data.get("config", {})},
        env_kwargs={**tuned.get("env_kwargs", {}), **data.get("env_kwargs", {})},
        search={k: _search_entry(k, v, where) for k, v in data.get("search", {}).items()},
        scheduler=_scheduler(data.get("scheduler"), total, where),
        config_source=str(tuned.get("source", "defaults")) if tuned else "defaults")


def draw_samples(spec: SweepSpec) -> list[dict[str, Any]]:
    """The ``num_samples`` random configurations (choice / uniform / loguniform entries).

    Drawn here, with a fixed seed, rather than by Tune: Tune would draw new values for every grid
    point, and a configuration is only comparable across seeds if every seed trains the same one."""
    import numpy as np

    rng = np.random.default_rng(0)
    samples = []
    for _ in range(spec.num_samples):
        sample: dict[str, Any] = {}
        for key, entry in spec.search.items():
            (kind, values), = entry.items()
            if kind == "choice":
                sample[key] = values[int(rng.integers(len(values)))]
            elif kind == "uniform":
                sample[key] = float(rng.uniform(values[0], values[1]))
            elif kind == "loguniform":
                sample[key] = float(math.exp(rng.uniform(math.log(values[0]), math.log(values[1]))))
        samples.append(sample)
    return samples


def flat_params(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's Tune config (grid values, and the drawn sample under ``"sample"``) as one flat dict."""
    return {**{k: v for k, v in config.items() if k != "sample"}, **config.get("sample", {})}


def _hyperparameters(spec: SweepSpec, params: dict[str, Any]) -> dict[str, Any]:
    return {**spec.config, **{k: v for k, v in params.items() if k != "seed"}}


def make_agent(spec: SweepSpec, params: dict[str, Any]) -> Any:
    """The agent of one trial: fixed config, then the trial's sampled hyperparameters."""
    import agents
    from agents.config import config_from_dict
    from experiments.cli import _make_env

    agent_cls = agents.ALGORITHMS[spec.algo]
    config = config_from_dict(agent_cls.Config, _hyperparameters(spec, params))
    env = _make_env(spec.env_id, **spec.env_kwargs)
    try:
        return agent_cls(env.observation_space, env.action_space, config, seed=int(params.get("seed", spec.seed)))
    finally:
        env.close()


def check_spec(spec: SweepSpec) -> None:
    """Build the agent with a sample of the space: unknown or ill-typed hyperparameters (and a
    bad env id) fail here, in one line, before Ray starts."""
    import agents
    from agents.config import config_from_dict

    if "seed" in spec.search and "grid" not in spec.search["seed"]:
        raise SpecError(f"sweep {spec.name!r}: search.seed must be a grid of integers, e.g. seed = {{grid = [0, 1]}}")
    first_grid_point = {k: e["grid"][0] for k, e in spec.search.items() if "grid" in e}
    try:
        samples = draw_samples(spec)
        for sample in samples[1:]:  # cheap: every drawn configuration is type-checked
            config_from_dict(agents.ALGORITHMS[spec.algo].Config, _hyperparameters(spec, sample))
        make_agent(spec, {**first_grid_point, **samples[0]})  # also the env id and the agent's own checks
    except ValueError as exc:
        raise SpecError(f"sweep {spec.name!r}: {exc}") from None


# -- trials -----------------------------------------------------------------------------------
def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return "-".join(map(_short, value))
    return str(value)


def trial_name(trial: Any) -> str:
    """``00003_seed=1_learning_rate=0.00123``: the trial's index and its sampled values. Ray keeps
    trial ids across a restore, so a resumed trial finds its run folder again."""
    index = str(trial.trial_id).rsplit("_", 1)[-1]
    slug = "_".join(f"{k}={_short(v)}" for k, v in sorted(flat_params(trial.config).items()))
    return re.sub(r"[^\w.=\-]", "", f"{index}_{slug}" if slug else index)[:120]


def _last_eval_row(run_dir: Path) -> dict[str, str] | None:
    from agents.plots import read_metrics
    try:
        rows = read_metrics(run_dir)["eval"]
    except ValueError:
        return None
    return rows[-1] if rows else None


def _eval_report(step: int, episodes: int, mean: float, std: float) -> dict[str, Any]:
    return {"eval_mean_return": float(mean), "eval_std_return": float(std), "step": int(step),
            "episodes": int(episodes)}


def run_trial(tune_config: dict[str, Any], spec: dict[str, Any], trials_dir: str) -> None:
    """The Ray Tune function trainable: one ordinary training run, reporting its evaluations.

    Restarted after an interruption, it continues from ``checkpoints/resume.npz`` if the run got
    that far; otherwise the partial folder is cleared and the run starts over."""
    from ray import tune

    from agents.loop import OffPolicyTrainer
    from experiments.cli import _finish_run

    sweep = SweepSpec(**spec)
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
        trainer = OffPolicyTrainer(
            make_agent(sweep, params), sweep.env_id, sweep.total_steps, int(params.get("seed", sweep.seed)),
            env_kwargs=sweep.env_kwargs, run_dir=run_dir, eval_freq=sweep.eval_freq,
            eval_episodes=sweep.eval_episodes, checkpoint_freq=sweep.checkpoint_freq or max(sweep.total_steps // 5, 1),
            progress=False, blas_threads=1, on_eval=report,
            run_info={"sweep": sweep.name, "trial": name, "params": params, "config_source": sweep.config_source})
    trainer.run()
    last = _last_eval_row(run_dir)
    if last is None or int(last["step"]) != trainer.step:
        trainer._evaluate(0.0)  # no evaluation at the last step (eval_freq does not divide it): one more
        last = _last_eval_row(run_dir)
    _finish_run(trainer, argparse.Namespace(no_gif=True))  # curve.png, as rlnn train writes
    tune.report(_eval_report(trainer.step, trainer.episode, float(last["eval_mean_return"]),
                             float(last["eval_std_return"])))


# -- summary ----------------------------------------------------------------------------------
def _trial_record(run_dir: Path, errors: dict[str, str]) -> dict[str, Any]:
    from agents.plots import read_metrics

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
    from agents.plots import find_runs, plot_runs

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
    return ", ".join(f"{k}={_short(v)}" for k, v in sorted(params.items())) or "(fixed config)"


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


# -- running on Ray ---------------------------------------------------------------------------
def require_ray(command: str) -> None:
    """Import Ray Tune, or stop with one line saying how to install it."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        from experiments.cli import _fail
        _fail(f"{command} {RAY_HINT}")


def _local_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


def _param_space(spec: SweepSpec) -> dict[str, Any]:
    """Grid entries as Tune grids; the drawn samples as one more grid over configurations."""
    from ray import tune

    space: dict[str, Any] = {k: tune.grid_search(e["grid"]) for k, e in spec.search.items() if "grid" in e}
    if any("grid" not in e for e in spec.search.values()):
        space["sample"] = tune.grid_search(draw_samples(spec))
    return space


def _tuner(spec: SweepSpec, trainable: Any, storage: str, workers: int | None, resume: bool, quiet: bool) -> Any:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    path = f"{storage.rstrip('/')}/{TUNE_DIR}"
    if resume:
        # resume_errored: a trial killed with its worker continues from its resume checkpoint.
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    scheduler = None
    if spec.scheduler is not None:
        scheduler = ASHAScheduler(time_attr="step", max_t=spec.total_steps, grace_period=spec.scheduler["grace_period"],
                                  reduction_factor=spec.scheduler["reduction_factor"])
    return tune.Tuner(
        trainable, param_space=_param_space(spec),
        tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=1,  # samples: see draw_samples
                                    scheduler=scheduler, max_concurrent_trials=workers,
                                    time_budget_s=spec.time_budget_s,
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name),
        run_config=tune.RunConfig(name=TUNE_DIR, storage_path=storage, verbose=0 if quiet else 1))


def _init_ray(address: str | None, workers: int | None, quiet: bool) -> None:
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")  # one line for the same message from many workers
    kwargs: dict[str, Any] = {}
    if address is None:
        # Ray runs workers at nice 15; on a machine shared with other jobs that starves the trials.
        # They are ordinary training runs, so they get the priority `rlnn train` gets (0).
        os.environ.setdefault("RAY_worker_niceness", "0")
        kwargs["num_cpus"] = workers or _local_cpus()
        # Local workers import rlnn from this checkout even when it is not pip-installed.
        root = str(Path(__file__).resolve().parents[1])
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}}
    ray.init(address=address, include_dashboard=False, log_to_driver=not quiet, configure_logging=True,
             logging_level=logging.ERROR if quiet else logging.WARNING, **kwargs)


def _prepare_folder(spec: SweepSpec, out: Path, storage: str | None, resume: bool) -> tuple[SweepSpec, str]:
    """Check the sweep folder and record the sweep in ``sweep.json``; on resume, the recorded
    spec and storage path win (the trials were sampled from them)."""
    from experiments.cli import _fail

    record = out / "sweep.json"
    if resume and not record.is_file():
        _fail(f"{out} holds no sweep to resume (no sweep.json)")
    if not resume and record.is_file():
        _fail(f"{out} already holds a sweep; continue it with --resume or pick another --out")
    if resume:
        saved = json.loads(record.read_text())
        if SweepSpec(**saved["spec"]) != spec:
            print(f"rlnn: the spec differs from the one the sweep started with; resuming with that one ({record})",
                  file=sys.stderr)
        return SweepSpec(**saved["spec"]), storage or saved["storage"]
    storage = storage or str(out)
    out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"spec": spec.to_json(), "storage": storage}, indent=2) + "\n")
    return spec, storage


def run_sweep(spec: SweepSpec, out: Path, *, address: str | None = None, workers: int | None = None,
              storage: str | None = None, resume: bool = False, quiet: bool = False,
              resume_command: str = "rlnn sweep SPEC --out OUT --resume") -> int:
    """Run (or resume) the sweep on Ray, then write and print its summary. Returns the exit code:
    0, 1 if a trial failed, 130 if interrupted (resumable with ``resume_command``)."""
    import ray
    from ray import tune

    from experiments.cli import _fail

    out = out.resolve()
    spec, storage = _prepare_folder(spec, out, storage, resume)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, spec=spec.to_json(), trials_dir=str(out / TRIALS_DIR)), {"cpu": 1})
    started = time.perf_counter()
    _init_ray(address, workers, quiet)
    try:
        if resume and not tune.Tuner.can_restore(f"{storage.rstrip('/')}/{TUNE_DIR}"):
            _fail(f"no Ray Tune state to resume in {storage}/{TUNE_DIR}")
        # verbose=0 still prints Tune's experiment header to stdout, which holds our summary.
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            results = _tuner(spec, trainable, storage, workers, resume, quiet).fit()
    finally:
        ray.shutdown()
    errors = {Path(r.path).name: str(r.error).strip().splitlines()[-1][:200] for r in results if r.error}
    summary = summarize(out, spec, errors)
    print(summary_markdown(summary))
    print(f"sweep folder: {out} ({time.perf_counter() - started:.0f} s); curves: {out / 'curves.png'}",
          file=sys.stderr)
    # Tune marks a trial's last result done=True when it returned or the scheduler stopped it;
    # after Ctrl-C, fit() returns the same way, with the unfinished trials not done.
    unfinished = [r for r in results if not r.error and not r.metrics.get("done")]
    if unfinished:
        print(f"rlnn: interrupted before all trials finished; continue with: "
              f"{resume_command.replace('OUT', str(out))}", file=sys.stderr)
        return 130
    return 1 if errors else 0


def _default_out(prefix: str) -> Path:
    return Path("runs") / "sweeps" / f"{prefix}_{time.strftime('%Y%m%d-%H%M%S')}"


def cmd_sweep(args: argparse.Namespace) -> int:
    """``rlnn sweep SPEC``."""
    from experiments.cli import _fail

    require_ray("rlnn sweep")
    try:
        spec = load_spec(args.spec)
        check_spec(spec)
    except SpecError as exc:
        _fail(str(exc))
    out = Path(args.out) if args.out else Path("runs") / "sweeps" / spec.name
    return run_sweep(spec, out, address=args.address, workers=args.workers, storage=args.storage,
                     resume=args.resume, quiet=args.quiet,
                     resume_command=f"rlnn sweep {args.spec} --out OUT --resume"
                                    + (f" --address {args.address}" if args.address else ""))


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0, 1, 2, 3, 4]; ``"0,3,7"`` → [0, 3, 7] (ranges and lists can be mixed)."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
    except ValueError:
        raise SpecError(f"--seeds expects A-B or a comma list of integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SpecError(f"--seeds expects distinct seeds, got {text!r}")
    return seeds


def seeds_spec(args: argparse.Namespace) -> SweepSpec:
    """``rlnn train ALGO ENV --seeds A-B`` as a sweep: the config ``rlnn train`` would use, a grid over seeds."""
    from experiments.cli import _parse_sets
    from experiments.configs import load_config_file, tuned_config

    if args.algo is None or args.env_id is None:
        raise SpecError("train --seeds needs ALGO and ENV_ID")
    file_config = (load_config_file(args.config) if args.config else tuned_config(args.algo, args.env_id)) or {}
    data: dict[str, Any] = {
        "name": f"{args.algo}_{args.env_id.replace('/', '_')}_seeds", "algo": args.algo, "env_id": args.env_id,
        "config": {**file_config.get("hyperparameters", {}), **_parse_sets(args.set or [])},
        "env_kwargs": file_config.get("env_kwargs", {}),
        "search": {"seed": {"grid": parse_seeds(args.seeds)}}}
    for key in ("total_steps", "eval_freq", "eval_episodes", "checkpoint_freq"):
        if key in file_config:
            data[key] = file_config[key]
    for key, value in (("total_steps", args.steps), ("eval_freq", args.eval_freq),
                       ("checkpoint_freq", args.checkpoint_freq)):
        if value is not None:
            data[key] = value
    spec = parse_spec(data, where="train --seeds")
    if args.config:  # parse_spec merged the tuned file; an explicit --config replaces it
        spec.config = data["config"]
        spec.env_kwargs = dict(data["env_kwargs"])
        spec.config_source = str(args.config)
    return spec


def cmd_train_seeds(args: argparse.Namespace) -> int:
    """``rlnn train ALGO ENV --seeds 0-4``: the same run over seeds on Ray Tune, then a plot of mean
    and spread and a summary table."""
    from experiments.cli import _fail

    require_ray("rlnn train --seeds")
    try:
        spec = seeds_spec(args)
        check_spec(spec)
    except (SpecError, ValueError) as exc:
        _fail(str(exc))
    # --resume DIR names the folder of an interrupted --seeds run, as it does for a single run.
    out = Path(args.resume or args.out or _default_out(spec.name))
    return run_sweep(spec, out, address=args.address, workers=args.workers, resume=bool(args.resume),
                     quiet=args.quiet,
                     resume_command=f"rlnn train {args.algo} {args.env_id} --seeds {args.seeds} --resume OUT")

