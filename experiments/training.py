"""What ``rlnn train``, a sweep's trial and :mod:`experiments.api` do around the training loop:
make the env (or read the spaces of one the caller made), build the agent from merged settings,
build the one :class:`~agents.config.RunSettings`, check the run folder, and draw the curve and
GIF when a run ends. :func:`build_trainer` is the whole start of a fresh run, shared by the CLI
and the Python API.

Every mistake a user can make here (an unknown algorithm, a bad hyperparameter, an env id whose
backend or module is missing, a run folder that cannot be used) is a one-line
:class:`~experiments.errors.UsageError`.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.config import RunSettings, config_to_dict
from agents.safety import shown
from experiments.configs import RUN_KEYS, Layer, MergedConfig, compact, merge_config
from experiments.errors import UsageError, escaped

# Where a registered env's entry point lives -> the Gymnasium extra that brings its backend.
BACKEND_EXTRAS = {"box2d": "box2d", "mujoco": "mujoco", "phys2d": "jax", "tabular": "jax"}
# The backends rlnn has an extra of its own for (pyproject.toml): the hint names it first.
PROJECT_EXTRAS = ("box2d", "mujoco")
LEFTOVERS = (".lock",)  # files a run folder may hold without holding anything of a run


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _backend(env_id: str) -> str | None:
    """The Gymnasium backend folder a registered env lives in (``box2d``, ``mujoco``, ...), if any."""
    from gymnasium.envs.registration import registry

    spec = registry.get(env_id)
    entry = spec.entry_point if spec is not None and isinstance(spec.entry_point, str) else ""
    parts = entry.split(":")[0].split(".")
    return parts[2] if parts[:2] == ["gymnasium", "envs"] and len(parts) > 2 and parts[2] in BACKEND_EXTRAS else None


def _install_hint(env_id: str, exc: BaseException, detail: str) -> str:
    """What to install for the backend an env id needs: rlnn's own extra where it has one
    (``pip install -e '.[mujoco]'``, always named: Gymnasium's own hint does not know it), else
    Gymnasium's (unless the error already says it), else the missing module."""
    backend = _backend(env_id)
    if backend in PROJECT_EXTRAS:
        return f"; install rlnn's extra: pip install -e '.[{backend}]' (in the rlnn folder)"
    if "pip install" in detail:
        return ""
    if backend is not None:
        return f"; pip install 'gymnasium[{BACKEND_EXTRAS[backend]}]'"
    missing = getattr(exc, "name", None)
    return f"; install the package that provides {shown(missing)}" if missing else "; install its dependencies"


def import_env_module(env_id: str) -> str:
    """The id to make for an id the user typed: ``Env-v0`` for ``module:Env-v0``, once ``module``
    (which registers the env) is imported; a plain id as it is. Runs and checkpoints then record
    the plain id, which a later process finds registered only after importing ``module`` itself:
    nothing read from a file is imported (:mod:`agents.safety`)."""
    module, colon, name = env_id.partition(":")
    if not colon:
        return env_id
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001  (whatever the user's module raises, one line)
        raise UsageError(f"env id {shown(env_id)}: cannot import module {shown(module)} "
                         f"({type(exc).__name__}: {escaped(_first_line(exc))}); check that it is "
                         f"installed or on PYTHONPATH") from exc
    return name


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

    plain = import_env_module(env_id)
    try:
        return gym.make(plain, **kwargs)
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
    hint = _install_hint(env_id, exc, detail)
    return f"environment {shown(env_id)} needs {what} that is not installed ({detail}){hint}"


def agent_class(algo: str) -> type:
    """The class of ``algo`` (``dqn``, ``sac``, ...), or a one-line :class:`UsageError`."""
    import agents

    if algo not in agents.ALGORITHMS:
        raise UsageError(f"unknown algorithm {shown(algo)}; accepted: {', '.join(sorted(agents.ALGORITHMS))}")
    return agents.ALGORITHMS[algo]


def new_agent(algo: str, observation_space: Any, action_space: Any, hyperparameters: Mapping[str, Any],
              seed: int) -> Any:
    """The agent of ``algo`` for these spaces with typed, checked ``hyperparameters``. A key the
    config does not have is one line that also says where an environment argument goes."""
    from agents.config import config_from_dict

    agent_cls = agent_class(algo)
    try:
        config = config_from_dict(agent_cls.Config, dict(hyperparameters))
    except ValueError as exc:
        names = {f.name for f in dataclasses.fields(agent_cls.Config)}
        unknown = [(k, v) for k, v in hyperparameters.items() if k not in names]
        hint = (f"; an argument of the environment goes in --env-kwargs {unknown[0][0]}={compact(unknown[0][1])} "
                f"(env_kwargs= in Python)") if unknown else ""
        raise UsageError(f"{exc}{hint}") from exc
    try:
        return agent_cls(observation_space, action_space, config, seed=seed)
    except ValueError as exc:  # spaces the algorithm cannot handle
        raise UsageError(str(exc)) from exc


def make_agent(algo: str, env_id: str, hyperparameters: Mapping[str, Any], env_kwargs: Mapping[str, Any],
               seed: int) -> Any:
    """The agent of ``algo`` for ``env_id``'s spaces (the env made with ``env_kwargs``)."""
    agent_class(algo)  # the cheaper mistake first, before the env is made
    env = make_env(env_id, **env_kwargs)
    try:
        return new_agent(algo, env.observation_space, env.action_space, hyperparameters, seed)
    finally:
        env.close()


def is_factory(env: Any) -> bool:
    """Whether ``env`` is a function (or class) that makes an env, rather than an env."""
    import gymnasium as gym

    return callable(env) and not isinstance(env, (gym.Env, gym.vector.VectorEnv))


def env_spaces(env: Any) -> tuple[str | None, Any, Any]:
    """``(id or None, observation space, action space)`` of an env the caller made: a
    ``gymnasium.Env``, a Gymnasium vector env (its single-env spaces) or a factory (called once,
    and the env it returns closed). The id, from the env's spec, names the tuned config."""
    import gymnasium as gym

    made = None
    if is_factory(env):
        try:
            made = env = env()
        except Exception as exc:  # noqa: BLE001  (whatever the user's factory raises, one line)
            raise UsageError(f"the env factory {shown(env)} failed ({type(exc).__name__}: "
                             f"{escaped(_first_line(exc))})") from exc
    try:
        if isinstance(env, gym.vector.VectorEnv):
            spaces = env.single_observation_space, env.single_action_space
        elif isinstance(env, gym.Env):
            spaces = env.observation_space, env.action_space
        else:
            raise UsageError(f"env must be an env id, a gymnasium.Env, a Gymnasium vector env or a function "
                             f"returning a gymnasium.Env; got {type(env).__name__}"
                             + (" from the factory" if made is not None else ""))
        spec = getattr(env, "spec", None)
        return getattr(spec, "id", None), *spaces
    finally:
        if made is not None and hasattr(made, "close"):
            made.close()


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


def run_settings(merged: MergedConfig, *, seed: int, run_dir: str | Path | None = None,
                 run_info: Mapping[str, Any] | None = None, **options: Any) -> RunSettings:
    """The run settings of one run from its merged config and the how-to-run ``options`` (any
    other :class:`~agents.config.RunSettings` field: ``progress``, ``lanes``, ``blas_threads``,
    ``overwrite``, ...; those not given keep the defaults declared there). The provenance of
    every setting goes into ``run.json`` (``config_sources``)."""
    # The RunSettings fields the merged config does not fill (RUN_KEYS) are how-to-run options.
    accepted = {f.name for f in dataclasses.fields(RunSettings)} - {*RUN_KEYS, "seed", "run_dir", "run_info"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UsageError(f"unknown run setting(s) {unknown}; accepted: {sorted(accepted)} (hyperparameters go "
                         f"in the config; budgets: steps, eval_freq, eval_episodes, checkpoint_freq)")
    info = {"config_layers": list(merged.layers), "config_sources": dict(merged.sources), **(run_info or {})}
    settings = RunSettings(**merged.run_keys(), seed=seed, run_dir=run_dir, run_info=info, **options)
    try:
        settings.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    return settings


def new_trainer(agent: Any, env: Any, settings: RunSettings, *, callbacks: Sequence[Any] = (),
                eval_env: Any = None, log: Callable[[str], None] | None = None,
                on_eval: Callable[..., None] | None = None) -> Any:
    """The trainer of a fresh run on ``env`` (an id, an env, a vector env or a factory); a
    setting the trainer refuses (lanes without ``fork``, ``env_kwargs`` for an env object, an
    evaluation without an env to evaluate on) is a one-line :class:`UsageError`."""
    from agents import trainer_class

    try:
        return trainer_class(agent.algo)(agent, env, settings, callbacks=callbacks, eval_env=eval_env, log=log,
                                         on_eval=on_eval)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def build_trainer(algo: str, env: Any, layers: Sequence[Layer] = (), *, tuned: bool = True, seed: int = 0,
                  run_dir: str | Path | None = None, callbacks: Sequence[Any] = (), eval_env: Any = None,
                  log: Callable[[str], None] | None = None, run_info: Mapping[str, Any] | None = None,
                  **options: Any) -> Any:
    """A fresh run, not yet started, as ``rlnn train`` and :func:`experiments.api.train` start
    one: the settings merged by :func:`~experiments.configs.merge_config` (the tuned file of
    ``algo`` on the env's id unless ``tuned`` is false, then ``layers``), the agent, the run
    settings (``options`` as :func:`run_settings` takes them), the trainer, the run folder
    checked; then ``log`` receives where each setting came from (and, from the trainer, its
    lanes and any warning, such as a ``learning_starts`` no update would come after).

    ``env`` is an id (made with the merged ``env_kwargs``; ``module:Env-v0`` imports ``module``
    first) or an env the caller made (see :func:`env_spaces`; its spec's id names the tuned file,
    and ``env_kwargs`` cannot apply); ``eval_env``, an env or factory to evaluate on, is needed
    for an env without a spec to make one from."""
    say = log or (lambda message: None)
    if isinstance(env, str):
        env = import_env_module(env)     # the run records the plain id (see import_env_module)
    env_id, *spaces = (env, None, None) if isinstance(env, str) else env_spaces(env)
    merged = merge_config(algo, env_id or "", layers, tuned=tuned and env_id is not None)
    if isinstance(env, str):
        agent = make_agent(algo, env, merged.hyperparameters, merged.env_kwargs, seed)
    else:
        agent = new_agent(algo, *spaces, merged.hyperparameters, seed)
    settings = run_settings(merged, seed=seed, run_dir=run_dir, run_info=run_info, **options)
    trainer = new_trainer(agent, env, settings, callbacks=callbacks, eval_env=eval_env, log=log)   # no file yet
    if run_dir is not None:
        check_run_folder(Path(run_dir), settings.overwrite)
    for line in merged.describe(config_to_dict(agent.config)):
        say(line)
    return trainer


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder means its final (else best, else latest periodic) checkpoint; a file is used as is."""
    path = Path(path)
    if path.is_dir():
        for name in ("final.npz", "best.npz"):
            if (path / name).is_file():
                return path / name
        steps = [p for p in (path / "checkpoints").glob("step_*.npz") if p.stem[5:].isdigit()]
        if steps:
            return max(steps, key=lambda p: int(p.stem[5:]))
        raise UsageError(f"{path} holds no checkpoint (final.npz, best.npz or checkpoints/step_*.npz)")
    if not path.is_file():
        raise UsageError(f"no such checkpoint or run folder: {path}")
    return path


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
