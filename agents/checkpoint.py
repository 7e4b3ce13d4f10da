"""Agent checkpoints: every network, target network and optimiser state as plain arrays in one
``.npz`` (through :func:`rlnn.save_arrays`), plus JSON metadata: the algorithm, its config, the
spaces and the env id. Loading rebuilds the agent without unpickling anything."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import rlnn
from rlnn.module import Module
from rlnn.optim import Optimizer


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
    """Inverse of :func:`pack_state`; optimisers absent from the file are left fresh."""
    def section(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}

    policy_only = bool(meta.get("policy_only"))
    for name, module in modules.items():
        part = section(name)
        if policy_only and not part:
            continue  # a policy export: target networks and critics were left out on purpose
        try:
            module.load_state_dict(part)
        except ValueError as exc:
            raise ValueError(f"network {name!r}: {exc}") from None
    for name, opt in optimizers.items():
        if name in meta.get("optimizer_steps", {}):
            opt.load_state_dict({"t": meta["optimizer_steps"][name], "state": section(f"opt.{name}")})


def save_agent(agent: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``agent`` (any of :data:`agents.ALGORITHMS`) to ``path``."""
    arrays, meta = agent.state_dict()
    meta = {"kind": "agent", "algo": agent.algo, **meta, **(extra or {})}
    return rlnn.save_arrays(path, arrays, meta)


# What acting needs: the Q-network (DQN) or the actor (SAC, TD3, DDPG), and SAC's temperature.
POLICY_SECTIONS = ("q", "actor", "log_alpha")


def export_policy(agent: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write only what ``act`` needs (no target networks, critics or optimiser state): a small
    file to ship or render. Loading it gives identical actions; it cannot resume training."""
    arrays, meta = agent.state_dict()
    kept = {k: v for k, v in arrays.items() if k.split("/", 1)[0] in POLICY_SECTIONS}
    meta = {"kind": "agent", "algo": agent.algo, **meta, **(extra or {}), "policy_only": True,
            "optimizer_steps": {}}
    return rlnn.save_arrays(path, kept, meta)


def load_agent(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """Rebuild the agent stored at ``path``; returns ``(agent, meta)``."""
    from . import ALGORITHMS

    arrays, meta = rlnn.load_arrays(path)
    if meta.get("kind") != "agent":
        raise ValueError(f"{path}: an rlnn file of kind {meta.get('kind')!r}, not an agent checkpoint")
    algo = meta.get("algo")
    if algo not in ALGORITHMS:
        raise ValueError(f"{path}: unknown algorithm {algo!r}; known: {sorted(ALGORITHMS)}")
    try:
        agent = ALGORITHMS[algo].from_state_dict(arrays, meta)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: malformed {algo} checkpoint: {exc!r}") from None
    return agent, meta
