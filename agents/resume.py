"""Reading a run folder back into a trainer that continues where the run stopped
(:meth:`agents.loop.OffPolicyTrainer.resume`): every way the folder can fail to match its run is
a one-line :class:`~agents.run_folder.RunFolderError`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import rlnn

from .checkpoint import agent_from_state
from .config import RunSettings
from .run_folder import RunFolder, RunFolderError
from .safety import registered_env_id, shown


def read_resumable_run(cls: Any, run_dir: str | Path, progress: bool, log: Callable[[str], None] | None,
                       on_eval: Callable[..., None] | None, total_steps: int | None, *, env: Any,
                       eval_env: Any, callbacks: Iterable[Any]) -> Any:
    """A ``cls`` trainer (an :class:`~agents.loop.OffPolicyTrainer`) rebuilt from ``run_dir``: its
    ``run.json``, its agent, replay memory, counters and RNG states from ``checkpoints/resume.npz``."""
    from . import ALGORITHMS

    folder = RunFolder(run_dir)
    info = folder.read_info()
    if not folder.resume_path.is_file():
        raise RunFolderError(f"{folder.path} has no checkpoints/resume.npz to resume from")
    if env is None and info.get("env_id") is None:
        raise RunFolderError(f"{folder.path} was trained on an env without a registered id; pass it again: "
                             f"OffPolicyTrainer.resume(run_dir, env=...)")
    try:
        arrays, meta = rlnn.load_arrays(folder.resume_path)
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{folder.resume_path} cannot be read: {exc}") from None
    algo = meta.get("algo")
    if meta.get("kind") != "resume" or algo not in ALGORITHMS:
        raise RunFolderError(f"{folder.resume_path} is not a resume checkpoint of a known algorithm")
    if info.get("algo") != algo:
        raise RunFolderError(f"{folder.path}: run.json records {info.get('algo')!r} but the resume checkpoint "
                             f"holds {algo!r}; the run folder is damaged")
    try:
        env = registered_env_id(info.get("env_id"), str(folder.info_path)) if env is None else env
        agent = agent_from_state({k[6:]: v for k, v in arrays.items() if k.startswith("agent:")}, meta["agent"],
                                 str(folder.resume_path), algo=algo)
        names = {f.name for f in dataclasses.fields(RunSettings)} - {"run_dir", "progress", "run_info", "overwrite"}
        settings = RunSettings(**{k: info[k] for k in names if k in info}, run_dir=folder.path, progress=progress,
                               run_info={k: v for k, v in info.items() if k not in names | {"algo", "config"}})
        t = meta["trainer"]
        if total_steps is not None:
            if total_steps < int(t["step"]):
                raise RunFolderError(f"{folder.path} is already at step {t['step']}; --steps {total_steps} "
                                     f"would not extend it")
            settings.total_steps = int(total_steps)
        try:
            trainer = cls(agent, env, settings, log=log, on_eval=on_eval, eval_env=eval_env, callbacks=callbacks)
        except ValueError as exc:          # the env given does not fit the run
            raise RunFolderError(f"cannot resume {folder.path}: {exc}") from None
        trainer.replay.load_state_dict({k[7:]: v for k, v in arrays.items() if k.startswith("replay:")},
                                       meta["replay"])
        trainer._restore(t)
    except RunFolderError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise RunFolderError(f"{folder.resume_path} does not match its run ({type(exc).__name__}: "
                             f"{shown(str(exc), 300)}); the run folder is damaged") from None
    if total_steps is not None and total_steps != info.get("total_steps"):
        trainer._write_run_info()      # run.json says how far the run now goes
    folder.truncate_metrics(trainer.step)
    folder.truncate_evals(trainer.step)
    return trainer

