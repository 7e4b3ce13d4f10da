"""rlnn from Python in a few lines, as ``rlnn train`` runs it (examples: ``docs/api.md``)::

    from experiments.api import train, evaluate, save, load

    agent = train("sac", "Pendulum-v1", steps=20_000, seed=0)   # tuned config, as the CLI uses it
    action = agent.predict(obs)                                   # one observation, or a batch
    save(agent, "sac.npz"); agent = load("sac.npz")
    print(evaluate(agent, "Pendulum-v1", episodes=10).mean_return)

It lives in ``experiments/`` because the tuned configs do (``agents/`` works with any env and
knows no config file). The settings of a run are merged by the one function the CLI and the
sweeps use, :func:`experiments.configs.merge_config`, lowest first: the algorithm's defaults,
the tuned file ``experiments/configs/ALGO/ENV_ID.json`` (unless ``tuned=False``), ``config``,
``env_kwargs``, then the budget arguments. Where each setting came from is printed when
``verbose`` and recorded in ``run.json`` when there is a ``run_dir``.

An env is an id (made with ``env_kwargs``), a ``gymnasium.Env``, a Gymnasium vector env, or a
function returning a ``gymnasium.Env``; one the caller made names its tuned file by its spec's
id. A mistake (an unknown algorithm, key or setting, an env that cannot be made) is a one-line
:class:`~experiments.errors.UsageError`, a ``ValueError``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.evaluation import EVAL_SEED_OFFSET, EvalResult
from experiments.configs import RUN_KEYS, Layer
from experiments.errors import UsageError

__all__ = ["evaluate", "load", "make_trainer", "resume", "save", "train"]

# Budgets merged with the config (so their provenance is recorded), besides ``steps``.
BUDGET_KEYS = tuple(key for key in RUN_KEYS if key not in ("total_steps", "env_kwargs"))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _layers(config: Mapping[str, Any] | str | os.PathLike | None, env_kwargs: Mapping[str, Any] | None,
            steps: int | None, budget: Mapping[str, Any]) -> list[Layer]:
    """The caller's settings over the tuned file, lowest first, as ``rlnn train`` stacks its
    ``--config``, ``--env-kwargs`` and budget flags."""
    layers = []
    if isinstance(config, (str, os.PathLike)):
        layers.append(Layer.from_file(config, f"config file {config}"))
    elif isinstance(config, Mapping):
        layers.append(Layer("config", hyperparameters=dict(config)))
    elif config is not None:
        raise UsageError(f"config must be a dict of hyperparameters or the path of a config file, "
                         f"got {type(config).__name__}")
    if env_kwargs:
        if not isinstance(env_kwargs, Mapping):
            raise UsageError(f"env_kwargs must be a dict of keyword arguments, got {type(env_kwargs).__name__}")
        layers.append(Layer("env_kwargs", run={"env_kwargs": dict(env_kwargs)}))
    run = {**budget, **({"total_steps": steps} if steps is not None else {})}
    if run:
        layers.append(Layer("arguments", run=run))
    return layers


def make_trainer(algo: str, env: Any, steps: int | None = None, *, seed: int = 0,
                 env_kwargs: Mapping[str, Any] | None = None,
                 config: Mapping[str, Any] | str | os.PathLike | None = None, tuned: bool = True,
                 run_dir: str | os.PathLike | None = None, callbacks: Sequence[Any] = (), eval_env: Any = None,
                 verbose: bool = True, **settings: Any) -> Any:
    """The trainer (:class:`~agents.loop.OffPolicyTrainer`, or :class:`~agents.on_policy.OnPolicyTrainer`
    for PPO and A2C) of a fresh run, not started: what
    :func:`train` runs. ``trainer.run()`` trains and returns the summary (steps, episodes,
    wall time, last evaluation); ``trainer.agent`` is the agent. Arguments as :func:`train`'s."""
    from experiments.training import build_trainer

    budget = {key: settings.pop(key) for key in BUDGET_KEYS if key in settings}
    settings.setdefault("progress", verbose)
    return build_trainer(algo, env, _layers(config, env_kwargs, steps, budget), tuned=tuned, seed=seed,
                         run_dir=None if run_dir is None else Path(run_dir), callbacks=callbacks,
                         eval_env=eval_env, log=_stderr if verbose else None, **settings)


def train(algo: str, env: Any, steps: int | None = None, *, seed: int = 0,
          env_kwargs: Mapping[str, Any] | None = None, config: Mapping[str, Any] | str | os.PathLike | None = None,
          tuned: bool = True, run_dir: str | os.PathLike | None = None, callbacks: Sequence[Any] = (),
          eval_env: Any = None, verbose: bool = True, **settings: Any) -> Any:
    """Train ``algo`` (``"dqn"``, ``"sac"``, ``"td3"``, ``"ddpg"``, ``"ppo"``, ``"a2c"``) on ``env`` and
    return the agent.

    * ``env``: an id (``"Pendulum-v1"``, ``"mymod:MyEnv-v0"``), a ``gymnasium.Env``, a Gymnasium
      vector env, or a function returning a ``gymnasium.Env``.
    * ``steps``: env steps in all (default: the tuned file's budget, else 100,000).
    * ``seed``: fixes the whole run (networks, exploration, episode seeds).
    * ``env_kwargs``: keyword arguments of ``gymnasium.make(env, ...)`` (an id only).
    * ``config``: hyperparameters over the tuned file (``{"learning_rate": 1e-3, "n_envs": 4}``),
      or the path of a config file (``rlnn train --config``'s format).
    * ``tuned``: start from the tuned file of ``algo`` on the env's id when there is one.
    * ``run_dir``: a run folder (``run.json``, ``metrics.csv``, checkpoints, ``final.npz``), as
      ``rlnn train --out`` writes; ``None`` writes nothing.
    * ``callbacks``: objects the loop calls (:mod:`agents.callbacks`).
    * ``eval_env``: an env or a factory to evaluate on (else one made like ``env``, or from its
      spec; an env with neither needs it, or ``eval_freq=0``).
    * ``verbose``: print where each setting came from, the trainer's lines and a progress bar.
    * ``settings``: the budgets ``eval_freq``, ``eval_episodes``, ``checkpoint_freq`` (merged
      like ``steps``) and any other :class:`~agents.config.RunSettings` field (``lanes``,
      ``blas_threads``, ``tensorboard``, ``overwrite``, ``progress``).

    Ctrl-C stops at the end of the current step (with a ``run_dir``, a resumable checkpoint is
    saved) and returns the agent as far as it got."""
    trainer = make_trainer(algo, env, steps, seed=seed, env_kwargs=env_kwargs, config=config, tuned=tuned,
                           run_dir=run_dir, callbacks=callbacks, eval_env=eval_env, verbose=verbose, **settings)
    trainer.run()
    return trainer.agent


def resume(run_dir: str | os.PathLike, steps: int | None = None, *, env: Any = None, eval_env: Any = None,
           callbacks: Sequence[Any] = (), verbose: bool = True) -> Any:
    """Continue the run in ``run_dir`` exactly where it stopped (to ``steps`` in all, when given:
    the run extended), with the settings it recorded; returns the agent. ``env`` (and
    ``eval_env``) as the run had them, for a run on an env without a registered id; a run on an
    env a module of yours registers needs that module imported first."""
    from agents.loop import OffPolicyTrainer

    trainer = OffPolicyTrainer.resume(run_dir, progress=verbose, log=_stderr if verbose else None, total_steps=steps,
                                      env=env, eval_env=eval_env, callbacks=callbacks)
    trainer.run()
    return trainer.agent


def save(agent: Any, path: str | os.PathLike) -> Path:
    """Write ``agent`` (networks, targets, optimiser states, config, spaces) to ``path``: arrays
    and JSON in one ``.npz``, written atomically, never pickled. Returns the path."""
    from agents.checkpoint import save_agent

    return save_agent(agent, path)


def load(path: str | os.PathLike) -> Any:
    """The agent saved at ``path``: a file from :func:`save`, any checkpoint of a run, or a run
    folder (its ``final.npz``, else ``best.npz``, else the latest periodic checkpoint). Nothing
    is unpickled; a damaged file is a one-line ``ValueError``."""
    from agents.checkpoint import load_agent
    from experiments.training import resolve_checkpoint

    return load_agent(resolve_checkpoint(path))[0]


def evaluate(agent: Any, env: Any, episodes: int = 10, *, seed: int = EVAL_SEED_OFFSET, deterministic: bool = True,
             env_kwargs: Mapping[str, Any] | None = None) -> EvalResult:
    """Run ``episodes`` whole episodes of ``agent`` on ``env`` (an id made with ``env_kwargs``,
    a ``gymnasium.Env``, or a function returning one); episode ``i`` resets with ``seed + i``
    (by default seeds training never uses). Returns the returns, lengths and final ``info``
    entries (``.mean_return``, ``.std_return``)."""
    import gymnasium as gym

    from agents.evaluation import evaluate as run_episodes
    from experiments.training import check_spaces, is_factory, make_env

    if isinstance(env, gym.vector.VectorEnv):
        raise UsageError("evaluate runs whole episodes on one env: give an id, a gymnasium.Env or a factory")
    if env_kwargs and not isinstance(env, str):
        raise UsageError("env_kwargs apply to an env id; give them to the env you made instead")
    made = None                       # an env made here is closed here
    if isinstance(env, str):
        made = make_env(env, **(env_kwargs or {}))
    elif is_factory(env):
        made = env()
    target = made if made is not None else env
    name = env if isinstance(env, str) else getattr(getattr(target, "spec", None), "id", type(target).__name__)
    try:
        check_spaces(agent, target, name)
        policy: Callable[[Any], Any] = lambda obs: agent.act(obs, deterministic=deterministic)  # noqa: E731
        return run_episodes(policy, target, episodes, seed=seed)
    finally:
        if made is not None:
            made.close()
