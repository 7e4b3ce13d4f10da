"""Agent checkpoints: every network, target network and optimiser state, and the normalization
statistics, as plain arrays in one ``.npz`` (through :func:`rlnn.save_arrays`), plus JSON
metadata: the algorithm, its config, the spaces and the env id. Loading rebuilds the agent without unpickling anything.

A checkpoint may come from anywhere, so reading one checks it before trusting it, and every
problem is a one-line ``ValueError`` naming the file: an unknown algorithm, missing, extra or
misshapen arrays, arrays of the wrong dtype, NaN or infinite values, a config describing
networks far larger than the file holds (refused before anything is allocated), and an env id
that is not a plain Gymnasium id (one of the ``module:Env`` form would import ``module``).
:func:`unpack_state`, which every agent's ``load_state_dict`` calls, does the per-network part
of these checks, so an agent rebuilt by any path gets them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import rlnn
from rlnn.module import Module
from rlnn.optim import Optimizer

from .config import config_from_dict, config_to_dict
from .normalization import SECTIONS as STATISTICS_SECTIONS
from .safety import plain_env_id, registered_env_id, shown
from .spaces import observation_width, space_from_json, space_to_json

# What acting needs: the Q-network (DQN) or the actor (SAC, TD3, DDPG; PPO's with its shared
# trunk and Gaussian log-std), SAC's temperature and the observation statistics
# (agents.normalization; present when that normalization is on).
POLICY_SECTIONS = ("q", "actor", "log_alpha", "obs_rms", "trunk", "log_std")
# Building an agent may allocate at most this, or 256x the file's arrays if that is more: its
# networks, their targets, gradients, Adam moments and scratch arrays are a small multiple of
# what a full checkpoint holds; a policy-only file holds one network of the several built
# (36x its size for SAC with 2 critics, 130x with 10).
_MIN_BUDGET_BYTES = 64 << 20
_BUDGET_FACTOR = 256


def pack_state(modules: dict[str, Module], optimizers: dict[str, Optimizer]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Flatten named modules and optimisers into ``"<name>/<key>"`` arrays plus optimiser step counts."""
    arrays: dict[str, np.ndarray] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            arrays[f"{name}/{key}"] = value
    steps = {}
    for name, opt in optimizers.items():
        state = opt.state_dict()
        steps[name] = state["t"]
        for key, value in state["state"].items():
            arrays[f"opt.{name}/{key}"] = value
    return arrays, {"optimizer_steps": steps}


def unpack_state(arrays: dict[str, np.ndarray], meta: dict[str, Any], modules: dict[str, Module],
                 optimizers: dict[str, Optimizer]) -> None:
    """Inverse of :func:`pack_state`; optimisers absent from the file are left fresh.

    Refuses (``ValueError``) arrays of a section nobody reads, a network's missing, extra or
    misshapen arrays, a dtype other than the network's (a file never silently changes
    precision), NaN, infinity and out-of-range optimiser state. Arrays without a section
    (SAC's ``log_alpha``), the normalization statistics (``obs_rms/…``, ``reward_rms/…``, read by
    :class:`agents.normalization.Normalization`) and the sections of optimisers the file names
    in ``optimizer_steps`` but this agent does not hold (an older layout the agent converts
    itself) are the caller's.
    """
    if not isinstance(meta, dict):
        raise ValueError("checkpoint metadata must be a JSON object")  # noqa: TRY004
    steps = meta.get("optimizer_steps", {})
    if not isinstance(steps, dict):
        raise ValueError(f"checkpoint optimizer_steps must be a JSON object, got {shown(steps)}")  # noqa: TRY004
    sections: dict[str, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if "/" in key:
            prefix, _, rest = key.partition("/")
            sections.setdefault(prefix, {})[rest] = value
    known = set(modules) | {f"opt.{name}" for name in (*optimizers, *steps)} | set(STATISTICS_SECTIONS)
    unknown = sorted(set(sections) - known)
    if unknown:
        raise ValueError(f"arrays of unknown part(s) {shown(unknown)}; this agent has networks {sorted(modules)}")
    policy_only = meta.get("policy_only", False)
    if not isinstance(policy_only, bool):
        raise ValueError(f"checkpoint policy_only must be true or false, got {shown(policy_only)}")
    for name, module in modules.items():
        part = sections.get(name, {})
        if policy_only and not part:
            continue  # a policy export: target networks and critics were left out on purpose
        try:
            for key, p in module.named_parameters():
                if key in part and part[key].dtype != p.dtype:
                    raise ValueError(f"entry {key!r} is {part[key].dtype}, the network's parameters are {p.dtype}")
            module.load_state_dict(part)
        except ValueError as exc:
            raise ValueError(f"network {name!r}: {exc}") from None
    for name, opt in optimizers.items():
        part = sections.get(f"opt.{name}", {})
        if name not in steps:
            if part:
                raise ValueError(f"optimizer {name!r}: arrays without a step count in optimizer_steps")
            continue
        try:
            opt.load_state_dict({"t": steps[name], "state": part})
        except ValueError as exc:
            raise ValueError(f"optimizer {name!r}: {exc}") from None


def with_agent_state(agent: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any],
                     **extra: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``arrays``/``meta`` of an agent's networks (:func:`pack_state`) with what every agent saves
    beside them: the observation statistics, the colored exploration noise's chunks (if any), the
    config, the spaces, the RNG state, the update count and the run length; ``extra`` adds the
    agent's own entries."""
    arrays.update(agent.normalization.state_dict())
    noise = getattr(agent, "exploration_noise", None)      # SAC's and TD3's colored noise (agents.noise)
    if noise is not None:
        arrays.update(noise.state_dict())
    meta.update(config=config_to_dict(agent.config), observation_space=space_to_json(agent.observation_space),
                action_space=space_to_json(agent.action_space), rng=agent.rng.bit_generator.state,
                n_updates=agent.n_updates, total_steps=agent._total_steps, **extra)
    return arrays, meta


def restore_agent_state(agent: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """The counterpart of :func:`with_agent_state` (the networks are :func:`unpack_state`'s)."""
    agent.normalization.load_state_dict(arrays, meta.get("policy_only", False))
    if getattr(agent, "exploration_noise", None) is not None:
        agent.exploration_noise.load_state_dict(arrays)
    agent.rng.bit_generator.state = meta["rng"]
    agent.n_updates = int(meta.get("n_updates", 0))
    agent.total_steps = meta.get("total_steps")


def rebuild_agent(cls: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Any:
    """A ``cls`` agent built from the spaces and config in ``meta``, then loaded from ``arrays``."""
    agent = cls(space_from_json(meta["observation_space"]), space_from_json(meta["action_space"]),
                config_from_dict(cls.Config, meta["config"]))
    agent.load_state_dict(arrays, meta)
    return agent


def save_agent(agent: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``agent`` (any of :data:`agents.ALGORITHMS`) to ``path``. An agent whose state holds
    NaN or infinity is refused (``ValueError``) rather than written over a good checkpoint."""
    arrays, meta = agent.state_dict()
    _refuse_non_finite(arrays, f"{path}: not written")
    meta = {"kind": "agent", "algo": agent.algo, **meta, **(extra or {})}
    return rlnn.save_arrays(path, arrays, meta)


def export_policy(agent: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write only what ``act`` needs (the policy network and the observation statistics; no
    target networks, critics, optimiser state or reward statistics): a small file to ship or
    render. Loading it gives identical actions; it cannot resume training."""
    arrays, meta = agent.state_dict()
    kept = {k: v for k, v in arrays.items() if k.split("/", 1)[0] in POLICY_SECTIONS}
    _refuse_non_finite(kept, f"{path}: not written")
    meta = {"kind": "agent", "algo": agent.algo, **meta, **(extra or {}), "policy_only": True,
            "optimizer_steps": {}}
    return rlnn.save_arrays(path, kept, meta)


def load_agent(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Rebuild the agent stored at ``path``; returns ``(agent, meta)``. Every problem with the
    file is a one-line ``ValueError`` naming it (``FileNotFoundError`` if there is none).
    ``meta["env_id"]``, if present, is a plain Gymnasium id; :func:`checkpoint_env_id` also
    checks that it is registered, which is what a caller about to ``gym.make`` it needs."""
    arrays, meta = rlnn.load_arrays(path)
    if meta.get("kind") != "agent":
        raise ValueError(f"{path}: an rlnn file of kind {shown(meta.get('kind'))}, not an agent checkpoint")
    return agent_from_state(arrays, meta, str(path)), meta


def agent_from_state(arrays: dict[str, np.ndarray], meta: dict[str, Any], source: str,
                     algo: str | None = None) -> Any:
    """The agent described by ``arrays`` and ``meta`` (as ``agent.state_dict()`` returns them),
    with every check of this module; ``source`` (the file) starts each error message and
    ``algo`` defaults to ``meta["algo"]``. For any reader of agent state (``load_agent``,
    resuming a run) instead of ``Algo.from_state_dict``."""
    from . import ALGORITHMS

    if not isinstance(meta, dict):
        raise ValueError(f"{source}: agent metadata must be a JSON object")  # noqa: TRY004
    algo = meta.get("algo") if algo is None else algo
    if not isinstance(algo, str) or algo not in ALGORITHMS:
        raise ValueError(f"{source}: unknown algorithm {shown(algo)}; known: {sorted(ALGORITHMS)}")
    if "env_id" in meta:
        plain_env_id(meta["env_id"], source)
    env_kwargs = meta.get("env_kwargs", {})
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"{source}: env_kwargs must be a JSON object, got {shown(env_kwargs)}")
    _refuse_non_finite(arrays, source)
    _check_size(arrays, meta, source)
    try:
        agent = ALGORITHMS[algo].from_state_dict(arrays, meta)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        detail = f"missing entry {shown(exc.args[0])}" if isinstance(exc, KeyError) and exc.args else str(exc)
        detail = (detail.splitlines() or [repr(exc)])[0]
        detail = detail if len(detail) <= 300 else detail[:299] + "…"    # it may quote a value from the file
        raise ValueError(f"{source}: malformed {algo} checkpoint: {detail}") from None
    _compare_with_agent(agent, arrays, meta, source)
    return agent


def checkpoint_env_id(meta: dict[str, Any], source: str) -> str:
    """The env id a checkpoint (or ``run.json``) names, if it is a plain id registered with
    Gymnasium; else a one-line ``ValueError`` naming ``source``. Use it before ``gym.make`` on
    an id read from a file (an id the user typed needs no such check)."""
    if "env_id" not in meta:
        raise ValueError(f"{source}: names no environment (no env_id); give one on the command line")
    return registered_env_id(meta["env_id"], source)


def _refuse_non_finite(arrays: dict[str, np.ndarray], source: str) -> None:
    for key, value in arrays.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad = int(value.size - np.count_nonzero(np.isfinite(value)))
            raise ValueError(f"{source}: array {shown(key)} holds {bad} NaN or infinite value(s): the training "
                             "that wrote it diverged or the file is corrupt")


def _check_size(arrays: dict[str, np.ndarray], meta: dict[str, Any], source: str) -> None:
    """Refuse a config whose networks the file cannot hold, before building them.

    Every agent here builds its networks as MLPs ``[input, *net_arch, output]`` (input the
    observation width, plus the action width for critics) and always saves the policy network,
    so the file must hold at least the hidden layers' weights ``obs · w1 + w1 · w2 + ...``; and
    the whole agent (its networks, targets and critics, with gradients, Adam moments and
    scratch) must fit the budget the file's size allows. A forged ``net_arch`` of
    ``[10**6, 10**6]`` or ``n_critics`` of a million is a one-line error, not a MemoryError."""
    config = meta.get("config")
    if not isinstance(config, dict):
        raise ValueError(f"{source}: checkpoint has no config object")
    try:
        obs_dim = observation_width(space_from_json(meta.get("observation_space")))
        act = space_from_json(meta.get("action_space"))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    act_dim = int(getattr(act, "n", 0) or (np.prod(act.shape) if act.shape else 1))
    arch = config.get("net_arch", [])
    if not isinstance(arch, list) or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in arch):
        raise ValueError(f"{source}: config net_arch must be a list of positive integers, got {shown(arch)}")
    critics = config.get("n_critics", 0)
    critics = critics if isinstance(critics, int) and not isinstance(critics, bool) and critics > 0 else 0
    held = sum(int(a.size) for a in arrays.values())
    hidden = [obs_dim, *arch]
    least = sum(a * b for a, b in zip(hidden, hidden[1:]))
    if least > held:
        raise ValueError(f"{source}: its config describes networks of at least {least:,} weights, but the file "
                         f"holds only {held:,} values")
    widths = [obs_dim + act_dim, *arch, 2 * act_dim]
    per_network = sum(a * b + b for a, b in zip(widths, widths[1:]))
    itemsize = 8 if config.get("dtype") == "float64" else 4
    needed = (2 + 2 * critics) * per_network * 6 * itemsize
    budget = max(_MIN_BUDGET_BYTES, _BUDGET_FACTOR * sum(int(a.nbytes) for a in arrays.values()))
    if needed > budget:
        raise ValueError(f"{source}: its config describes an agent of about {needed / 2**20:,.0f} MiB, far more "
                         "than the file's arrays justify")


def _compare_with_agent(agent: Any, arrays: dict[str, np.ndarray], meta: dict[str, Any], source: str) -> None:
    """Every array of the file must be one the rebuilt agent has, of its shape and dtype, and
    every array the agent needs must be there (a policy export needs only the policy)."""
    expected, agent_meta = agent.state_dict()
    steps = meta.get("optimizer_steps", {})
    converted = {f"opt.{name}" for name in steps if name not in agent_meta.get("optimizer_steps", {})}
    extra = sorted(k for k in arrays if k not in expected and k.split("/", 1)[0] not in converted)
    if extra:
        raise ValueError(f"{source}: arrays the {agent.algo} agent does not have: {shown(extra)}")
    for key, value in arrays.items():
        want = expected.get(key)
        if want is not None and (value.shape != want.shape or value.dtype != want.dtype):
            raise ValueError(f"{source}: array {shown(key)} is {value.dtype} of shape {value.shape}, "
                             f"the agent's is {want.dtype} of shape {want.shape}")
    policy_only = meta.get("policy_only", False)

    def needed(key: str) -> bool:
        part = key.split("/", 1)[0]
        if policy_only:
            return part in POLICY_SECTIONS
        return not (part.startswith("opt.") and part[len("opt."):] not in steps)

    missing = sorted(k for k in expected if needed(k) and k not in arrays)
    if missing:
        raise ValueError(f"{source}: arrays missing from the checkpoint: {shown(missing)}")
