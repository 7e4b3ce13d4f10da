"""Checking Gymnasium spaces and turning them into JSON (for checkpoints) and back."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def check_box_observation(space: spaces.Space, algo: str) -> int:
    """The flat observation width; a clear error for anything but a 1-D ``Box``."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"{algo} needs a 1-D Box observation space, got {space}")
    return int(space.shape[0])


def check_discrete_action(space: spaces.Space, algo: str) -> int:
    if not isinstance(space, spaces.Discrete):
        raise ValueError(f"{algo} needs a Discrete action space, got {space}"
                         + (" (use sac, td3 or ddpg for continuous actions)" if isinstance(space, spaces.Box) else ""))
    return int(space.n)


def check_bounded_box_action(space: spaces.Space, algo: str) -> int:
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ValueError(f"{algo} needs a 1-D Box action space, got {space}"
                         + (" (use dqn for discrete actions)" if isinstance(space, spaces.Discrete) else ""))
    if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
        raise ValueError(f"{algo} needs a bounded Box action space (finite low and high), got {space}")
    return int(space.shape[0])


def space_to_json(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(),
                "shape": list(space.shape), "dtype": np.dtype(space.dtype).name}
    raise ValueError(f"cannot describe space {space} (only Box and Discrete are supported)")


def space_from_json(desc: dict[str, Any]) -> spaces.Space:
    if desc.get("type") == "Discrete":
        return spaces.Discrete(desc["n"], start=desc.get("start", 0))
    if desc.get("type") == "Box":
        return spaces.Box(low=np.array(desc["low"], dtype=desc["dtype"]), high=np.array(desc["high"], dtype=desc["dtype"]),
                          shape=tuple(desc["shape"]), dtype=desc["dtype"])
    raise ValueError(f"unknown space description {desc!r}")


def as_observation(obs: Any, obs_dim: int) -> np.ndarray:
    """An observation (or a batch of them) as float32 of width ``obs_dim``, with a clear error."""
    arr = np.asarray(obs, dtype=np.float32) if not (isinstance(obs, np.ndarray) and obs.dtype == np.float32) else obs
    if arr.shape[-1:] != (obs_dim,) or arr.ndim > 2:
        raise ValueError(f"observation must have shape ({obs_dim},) or (batch, {obs_dim}), got {arr.shape}")
    return arr
