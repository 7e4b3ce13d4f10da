"""What ``rlnn train`` and a sweep's trial both do around the training loop: make the env, build
the agent from merged settings, build the one :class:`~agents.config.RunSettings`, check the run
folder, and draw the curve and GIF when a run ends.

Every mistake a user can make here (an unknown algorithm, a bad hyperparameter, an env id whose
backend or module is missing, a run folder that cannot be used) is a one-line
:class:`~experiments.errors.UsageError`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from agents.config import RunSettings
from agents.safety import shown
from experiments.configs import MergedConfig
from experiments.errors import UsageError, escaped

# Where a registered env's entry point lives -> the Gymnasium extra that brings its backend.
BACKEND_EXTRAS = {"box2d": "box2d", "mujoco": "mujoco", "phys2d": "jax", "tabular": "jax"}
LEFTOVERS = (".lock",)  # files a run folder may hold without holding anything of a run


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _install_hint(env_id: str, exc: BaseException) -> str:
    """``pip install '...'`` for the backend an env id needs, from where its entry point lives."""
    from gymnasium.envs.registration import registry

    spec = registry.get(env_id)
    entry = spec.entry_point if spec is not None and isinstance(spec.entry_point, str) else ""
    parts = entry.split(":")[0].split(".")
    if parts[:2] == ["gymnasium", "envs"] and len(parts) > 2 and parts[2] in BACKEND_EXTRAS:
        return f"pip install 'gymnasium[{BACKEND_EXTRAS[parts[2]]}]'"
    missing = getattr(exc, "name", None)
    return f"install the package that provides {shown(missing)}" if missing else "install its dependencies"


def make_env(env_id: str, **kwargs: Any) -> Any:
    """``gym.make(env_id, **kwargs)`` with this project's envs registered. ``module:Env-v0`` (an
    id the user typed) imports ``module`` first; ids read from files must have gone through
    :func:`agents.safety.registered_env_id` before they get here."""
    import gymnasium as gym

    # pygame-based renderers otherwise look for an audio device and, for off-screen frames, a
    # display, and complain on headless machines.
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    if kwargs.get("render_mode") == "rgb_array":
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import envs  # noqa: F401  (registers rlnn/Walker-v0 and rlnn/WalkerRough-v0)

    module, colon, _ = env_id.partition(":")
    if colon:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001  (whatever the user's module raises, one line)
            raise UsageError(f"env id {shown(env_id)}: cannot import module {shown(module)} "
                             f"({type(exc).__name__}: {escaped(_first_line(exc))}); check that it is "
                             f"installed or on PYTHONPATH") from exc
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as exc:
        raise UsageError(_missing(env_id, "a backend", exc)) from exc
    except ImportError as exc:  # a registered env whose entry point needs a missing package
        raise UsageError(_missing(env_id, "a package", exc)) from exc
    except gym.error.Error as exc:
        raise UsageError(f"cannot make environment {shown(env_id)}: {escaped(_first_line(exc))}") from exc
    except TypeError as exc:  # gymnasium says which kwargs the env creator refused
        raise UsageError(f"environment {shown(env_id)} does not take these arguments: "
                         f"{escaped(_first_line(exc), 240)}") from exc
    except ValueError as exc:  # an env refusing a value of its kwargs
        raise UsageError(f"cannot make environment {shown(env_id)}: {escaped(_first_line(exc))}") from exc


def _missing(env_id: str, what: str, exc: BaseException) -> str:
    detail = escaped(_first_line(exc))
    hint = "" if "pip install" in detail else f"; {_install_hint(env_id, exc)}"
    return f"environment {shown(env_id)} needs {what} that is not installed ({detail}){hint}"


def make_agent(algo: str, env_id: str, hyperparameters: Mapping[str, Any], env_kwargs: Mapping[str, Any],
               seed: int) -> Any:
    """The agent of ``algo`` for ``env_id``'s spaces with typed, checked ``hyperparameters``."""
    import agents
    from agents.config import config_from_dict

    if algo not in agents.ALGORITHMS:
        raise UsageError(f"unknown algorithm {shown(algo)}; accepted: {', '.join(sorted(agents.ALGORITHMS))}")
    agent_cls = agents.ALGORITHMS[algo]
    try:
        config = config_from_dict(agent_cls.Config, dict(hyperparameters))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    env = make_env(env_id, **env_kwargs)
    try:
        return agent_cls(env.observation_space, env.action_space, config, seed=seed)
    except ValueError as exc:  # spaces the algorithm cannot handle
        raise UsageError(str(exc)) from exc
    finally:
        env.close()


def _space(space: Any) -> str:
    n = getattr(space, "n", None)
    return f"{type(space).__name__}({int(n)})" if n is not None else f"{type(space).__name__} of shape {space.shape}"


def check_spaces(agent: Any, env: Any, env_id: str) -> None:
    """A checkpoint's agent acts only in an env with the spaces it was trained on."""
    obs_ok = getattr(env.observation_space, "shape", None) == agent.observation_space.shape
    if not obs_ok or env.action_space != agent.action_space:
        raise UsageError(f"environment {shown(env_id)} has observations {_space(env.observation_space)} and actions "
                         f"{_space(env.action_space)}; the checkpoint's agent needs "
                         f"{_space(agent.observation_space)} and {_space(agent.action_space)} "
                         f"(give the env it was trained on with --env)")


def run_settings(merged: MergedConfig, *, seed: int, run_dir: str | Path | None = None, progress: bool = True,
                 blas_threads: int | str = "auto", lanes: int | str = "auto", overwrite: bool = False,
                 run_info: Mapping[str, Any] | None = None) -> RunSettings:
    """The run settings of one run from its merged config and the how-to-run choices; the
    provenance of every setting goes into ``run.json`` (``config_sources``)."""
    info = {"config_layers": list(merged.layers), "config_sources": dict(merged.sources), **(run_info or {})}
    settings = RunSettings(**merged.run_keys(), seed=seed, run_dir=run_dir, progress=progress,
                           blas_threads=blas_threads, lanes=lanes, overwrite=overwrite, run_info=info)
    try:
        settings.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    return settings


def new_trainer(agent: Any, env_id: str, settings: RunSettings, *, log: Callable[[str], None] | None = None,
                on_eval: Callable[..., None] | None = None) -> Any:
    """The trainer of a fresh run; a setting the machine cannot honour (lanes without ``fork``)
    is a one-line :class:`UsageError`."""
    from agents.loop import OffPolicyTrainer

    try:
        return OffPolicyTrainer(agent, env_id, settings, log=log, on_eval=on_eval)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def check_run_folder(out: Path, overwrite: bool) -> None:
    """Refuse, before anything is trained, a run folder that would mix two runs or cannot be
    written: a file, a folder that is not empty (unless ``overwrite``: the trainer then removes
    the old run's files), or a path that cannot be created."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {shown(str(out), 120)} is a file, not a folder; choose another --out")
    if out.is_dir() and not overwrite and any(p.name not in LEFTOVERS for p in out.iterdir()):
        raise UsageError(f"{shown(str(out), 120)} is not empty; continue the run in it with --resume {out}, "
                         f"or replace it with --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --out {shown(str(out), 120)} ({exc.strerror or exc}); "
                         f"choose a folder you can write to") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to --out {shown(str(out), 120)} (permission denied); "
                         f"choose a folder you can write to")


def finish_run(trainer: Any, gif: bool = True, log: Callable[[str], None] | None = None) -> None:
    """After a finished run: the learning curve (``curve.png``) and, when ``gif`` and the env
    renders, a GIF of one episode (``episode.gif``)."""
    from experiments.plots import plot_runs

    if trainer.summary()["interrupted"] or trainer.run_dir is None:
        return
    say = log or (lambda msg: None)
    if (trainer.run_dir / "metrics.csv").is_file():
        plot_runs([trainer.run_dir], trainer.run_dir / "curve.png")
    else:
        say("rlnn: no curve.png (the run ended before its first episode or evaluation)")
    if not gif:
        return
    from experiments.rendering import record_gif
    try:
        env = make_env(trainer.env_id, render_mode="rgb_array", **trainer.env_kwargs)
        record_gif(lambda o: trainer.agent.act(o, deterministic=True), env, trainer.run_dir / "episode.gif")
        env.close()
    except Exception as exc:  # noqa: BLE001  (a GIF is a bonus: an env that cannot render still trained)
        say(f"rlnn: no GIF ({type(exc).__name__}: {escaped(_first_line(exc))})")
