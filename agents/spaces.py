"""Checking Gymnasium spaces and turning them into JSON (for checkpoints) and back."""

from __future__ import annotations

import math
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


MAX_SPACE_SIZE = 1_000_000     # elements of a Box, actions of a Discrete: far beyond what an MLP agent takes


def space_from_json(desc: dict[str, Any]) -> spaces.Space:
    """The space :func:`space_to_json` described. The description may come from a file, so it
    is checked before anything is built: a ``Box`` needs a 1-D or scalar shape of at most
    :data:`MAX_SPACE_SIZE` elements, ``low``/``high`` given in full (a scalar would let a tiny
    file declare a huge space), no NaN and a floating dtype or integer dtype; a ``Discrete`` a
    count in ``[1, MAX_SPACE_SIZE]``. Anything else is a one-line ``ValueError``."""
    if not isinstance(desc, dict):
        raise ValueError(f"a space description must be a dict, got {type(desc).__name__}")  # noqa: TRY004
    kind = desc.get("type")
    if kind == "Discrete":
        n, start = desc.get("n"), desc.get("start", 0)
        if not _is_int(n) or not 1 <= n <= MAX_SPACE_SIZE or not _is_int(start) or abs(start) > 2**62:
            raise ValueError(f"a Discrete space needs an integer n in [1, {MAX_SPACE_SIZE}] and an integer start, "
                             f"got n={str(n)[:40]}, start={str(start)[:40]}")
        return spaces.Discrete(n, start=start)
    if kind == "Box":
        shape, dtype = desc.get("shape"), desc.get("dtype")
        if not isinstance(shape, list) or len(shape) > 1 or not all(_is_int(d) and d >= 1 for d in shape):
            raise ValueError(f"a Box space needs a shape of one positive integer, got {str(shape)[:60]}")
        size = shape[0] if shape else 1
        if size > MAX_SPACE_SIZE:
            raise ValueError(f"a Box space of {size} elements is beyond the {MAX_SPACE_SIZE} supported")
        if dtype not in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"):
            raise ValueError(f"a Box space needs a numeric dtype name, got {str(dtype)[:40]!r}")
        bounds = []
        for name in ("low", "high"):
            values = desc.get(name)
            values = values if shape else [values]
            if not isinstance(values, list) or len(values) != size or not all(_is_number(v) for v in values):
                raise ValueError(f"a Box space needs {name} as {size} numbers (no NaN), got {str(values)[:60]}")
            bounds.append(np.array(values, dtype=np.float64).reshape(shape))
        low, high = bounds
        if np.any(low > high):
            raise ValueError("a Box space needs low <= high")
        if np.dtype(dtype).kind != "f" and not (np.isfinite(low).all() and np.isfinite(high).all()
                                                and np.abs(low).max() < 2**53 and np.abs(high).max() < 2**53):
            raise ValueError(f"a Box space of dtype {dtype} needs finite integer bounds below 2**53")
        try:
            return spaces.Box(low=low.astype(dtype), high=high.astype(dtype), shape=tuple(shape), dtype=dtype)
        except (ValueError, OverflowError, TypeError) as exc:    # e.g. an infinite bound of an integer Box
            raise ValueError(f"a Box space description is invalid: {str(exc).splitlines()[0][:120]}") from None
    raise ValueError(f"unknown space description (type {str(kind)[:40]!r}); expected Box or Discrete")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A JSON number that is not NaN (infinite bounds are legitimate: CartPole's velocities)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def as_observation(obs: Any, obs_dim: int) -> np.ndarray:
    """An observation (or a batch of them) as float32 of width ``obs_dim``, with a clear error."""
    arr = np.asarray(obs, dtype=np.float32) if not (isinstance(obs, np.ndarray) and obs.dtype == np.float32) else obs
    if arr.shape[-1:] != (obs_dim,) or arr.ndim > 2:
        raise ValueError(f"observation must have shape ({obs_dim},) or (batch, {obs_dim}), got {arr.shape}")
    return arr
