"""Running a sweep on Ray Tune: the sweep folder, Ray's start-up, the Tuner, the summary at the
end. Errors a user can cause are :class:`~experiments.errors.UsageError` (the ``rlnn`` command
prints them in one line); the return value of :func:`run_sweep` is the exit code."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from agents.parallel import available_cores
from experiments.errors import UsageError
from experiments.sweep.spec import SweepSpec, draw_samples
from experiments.sweep.summary import TRIALS_DIR, summarize, summary_markdown
from experiments.sweep.trial import run_trial, trial_name

RAY_HINT = "needs Ray Tune: pip install 'rlnn[ray]'"
TUNE_DIR = "tune"  # Ray's experiment folder inside the storage path


def require_ray(command: str) -> None:
    """Import Ray Tune, or a one-line :class:`UsageError` saying how to install it."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        raise UsageError(f"{command} {RAY_HINT}") from None


def default_out(prefix: str) -> Path:
    return Path("runs") / "sweeps" / f"{prefix}_{time.strftime('%Y%m%d-%H%M%S')}"


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
        kwargs["num_cpus"] = workers or available_cores()
        # Local workers import rlnn from this checkout even when it is not pip-installed.
        root = str(Path(__file__).resolve().parents[2])
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}}
    ray.init(address=address, include_dashboard=False, log_to_driver=not quiet, configure_logging=True,
             logging_level=logging.ERROR if quiet else logging.WARNING, **kwargs)


def _prepare_folder(spec: SweepSpec, out: Path, storage: str | None, resume: bool) -> tuple[SweepSpec, str]:
    """Check the sweep folder and record the sweep in ``sweep.json``; on resume, the recorded
    spec and storage path win (the trials were sampled from them)."""
    record = out / "sweep.json"
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose another --out")
    if resume and not record.is_file():
        raise UsageError(f"{out} holds no sweep to resume (no sweep.json)")
    if not resume and record.is_file():
        raise UsageError(f"{out} already holds a sweep; continue it with --resume or pick another --out")
    if resume:
        try:
            saved = json.loads(record.read_text())
            recorded = SweepSpec.from_json(saved["spec"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{record} cannot be read ({type(exc).__name__}); the sweep folder is damaged") from None
        if recorded != spec:
            print(f"rlnn: the spec differs from the one the sweep started with; resuming with that one ({record})",
                  file=sys.stderr)
        return recorded, storage or saved.get("storage") or str(out)
    storage = storage or str(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {out} ({exc.strerror or exc}); choose a folder you can write to") from exc
    record.write_text(json.dumps({"spec": spec.to_json(), "storage": storage}, indent=2) + "\n")
    return spec, storage


def run_sweep(spec: SweepSpec, out: Path, *, address: str | None = None, workers: int | None = None,
              storage: str | None = None, resume: bool = False, quiet: bool = False,
              resume_command: str = "rlnn sweep SPEC --out OUT --resume") -> int:
    """Run (or resume) the sweep on Ray, then write and print its summary. Returns the exit code:
    0, 1 if a trial failed, 130 if interrupted (resumable with ``resume_command``)."""
    import ray
    from ray import tune

    out = out.resolve()
    spec, storage = _prepare_folder(spec, out, storage, resume)
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, spec=spec.to_json(), trials_dir=str(out / TRIALS_DIR)), {"cpu": 1})
    started = time.perf_counter()
    _init_ray(address, workers, quiet)
    try:
        if resume and not tune.Tuner.can_restore(f"{storage.rstrip('/')}/{TUNE_DIR}"):
            raise UsageError(f"no Ray Tune state to resume in {storage}/{TUNE_DIR}")
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
