"""Gymnasium spaces: which ones the agents take, how an observation becomes the flat float32 row
the networks see, and the JSON that describes a space in a checkpoint.

**Observations** (:class:`ObservationEncoder`) are laid out as ``gymnasium.spaces.flatten`` lays
them out:

=====================================  ==========================================  ==============
space                                  encoded as                                  width
=====================================  ==========================================  ==============
``Box`` of shape ``()``, ``(d,)``,     its values, flattened in C order            ``prod(shape)``
``(d1, d2)``
``Discrete(n, start)``                 one-hot of ``x − start``                    ``n``
``MultiDiscrete(nvec, start)``         one one-hot per entry, concatenated         ``sum(nvec)``
``MultiBinary(shape)``                 its 0/1 values, flattened                   ``prod(shape)``
``Dict`` / ``Tuple`` of those,         the entries' encodings concatenated in the  the sum
nested                                 space's order (a ``Dict``'s key order)
=====================================  ==========================================  ==============

The rule for images: a ``Box`` of three or more dimensions (``(H, W, C)``, ``(C, H, W)``,
stacked frames) is an image, and an image anywhere in the space is refused with one line that
says what is supported (an MLP on raw pixels is not what these agents are for). A 2-D ``Box``
is flattened whatever it holds.

**Actions** keep their rules: ``Discrete`` for DQN, a bounded 1-D ``Box`` for SAC, TD3, DDPG.

**JSON** (:func:`space_to_json`, :func:`space_from_json`) describes ``Box`` (any shape),
``Discrete``, ``MultiBinary``, ``MultiDiscrete``, ``Tuple`` and ``Dict``. A description read
from a file is checked before anything is built: sizes, nesting depth and key lengths are
bounded, and every problem is a one-line ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

MAX_SPACE_SIZE = 1_000_000     # elements (and one-hot widths) of a whole space: far beyond what an MLP agent takes
MAX_SPACE_DEPTH = 8            # Dict / Tuple nesting
MAX_SPACE_COUNT = 10_000       # spaces in one description, the Dicts and Tuples counted
MAX_SPACE_NDIM = 8             # dimensions of a Box, MultiBinary or MultiDiscrete in a description
MAX_KEY_LENGTH = 200           # characters of a Dict key in a description

SUPPORTED_OBSERVATIONS = (
    "rlnn's MLP agents take vector observations: Box (flattened), Discrete (one-hot), MultiDiscrete "
    "(one-hot per entry), MultiBinary, Dict/Tuple of those (flattened); image observations "
    "(Box of shape (H, W, C)) are not supported")


# -- observations ------------------------------------------------------------------------------
def observation_width(space: spaces.Space, algo: str = "rlnn") -> int:
    """The width of the encoded observation of ``space`` (see the module's table); a one-line
    ``ValueError`` naming the offending entry for anything else."""
    width = _width(space, space, algo, "", 0)
    if width == 0:
        raise ValueError(f"{algo} cannot take observations of {_describe(space)}: it has no elements")
    return width


def check_box_observation(space: spaces.Space, algo: str) -> int:
    """The observation width (the historical name: any space :class:`ObservationEncoder` takes)."""
    return observation_width(space, algo)


def _width(space: spaces.Space, top: spaces.Space, algo: str, path: str, depth: int) -> int:
    def refuse(why: str = SUPPORTED_OBSERVATIONS) -> ValueError:
        at = f" (its entry {path} is {_describe(space)})" if path else ""
        return ValueError(f"{algo} cannot take observations of {_describe(top)}{at}: {why}")

    if isinstance(space, spaces.Box):
        if len(space.shape) >= 3:
            raise refuse()
        return math.prod(space.shape)
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiBinary):
        return math.prod(space.shape)
    if isinstance(space, spaces.MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, (spaces.Dict, spaces.Tuple)):
        if depth >= MAX_SPACE_DEPTH:
            raise refuse(f"Dict/Tuple spaces nested more than {MAX_SPACE_DEPTH} deep are not supported")
        if not space.spaces:
            raise refuse(f"an empty {type(space).__name__} has nothing to observe")
        items = space.spaces.items() if isinstance(space, spaces.Dict) else enumerate(space.spaces)
        return sum(_width(sub, top, algo, f"{path}[{key!r}]", depth + 1) for key, sub in items)
    raise refuse()


class ObservationEncoder:
    """Turns raw observations of ``space`` into the flat float32 rows the networks and the
    replay memory take: ``encode(obs)`` is ``(dim,)`` for one observation, ``(n, dim)`` for a
    batch (the module's table gives the layout).

    A batch is what a Gymnasium vector env returns: arrays of shape ``(n, *shape)`` for a
    ``Box``, ``MultiBinary`` or ``MultiDiscrete``, integers of shape ``(n,)`` for a
    ``Discrete``, and a dict (tuple) of those for a ``Dict`` (``Tuple``).

    Encoding is idempotent: a float32 array of shape ``(dim,)`` or ``(n, dim)`` is taken as
    rows already encoded and returned as it is (the training loop stores encoded observations
    and hands them back to ``explore``). Only a float32 ``Box`` of shape ``(1, dim)`` has raw
    observations of that form; one of them is read as a batch of one row.
    A 1-D ``Box`` (the common case, in the hot loop) costs a dtype and a shape check.
    """

    def __init__(self, space: spaces.Space, algo: str = "rlnn") -> None:
        self.space = space
        self.dim = observation_width(space, algo)
        self.flat = isinstance(space, spaces.Box) and len(space.shape) == 1

    def encode(self, obs: Any) -> np.ndarray:
        """``obs`` (one raw observation, a batch, or rows already encoded) as float32 rows."""
        if self.flat:
            return as_observation(obs, self.dim)
        if isinstance(obs, np.ndarray) and obs.dtype == np.float32 and obs.ndim in (1, 2) and obs.shape[-1] == self.dim:
            return obs
        try:
            rows, batched = _encode(self.space, obs, "")
        except ValueError as exc:
            raise ValueError(f"observation does not fit {_describe(self.space)}: {exc}") from None
        return rows if batched else rows[0]


def as_observation(obs: Any, obs_dim: int) -> np.ndarray:
    """An observation (or a batch of them) as float32 of width ``obs_dim``, with a clear error."""
    arr = np.asarray(obs, dtype=np.float32) if not (isinstance(obs, np.ndarray) and obs.dtype == np.float32) else obs
    if arr.shape[-1:] != (obs_dim,) or arr.ndim > 2:
        raise ValueError(f"observation must have shape ({obs_dim},) or (batch, {obs_dim}), got {arr.shape}")
    return arr


def _encode(space: spaces.Space, value: Any, path: str) -> tuple[np.ndarray, bool]:
    """``value`` of ``space`` as float32 rows ``(n, width)``, and whether it was a batch."""
    name = path or "the observation"
    if isinstance(space, spaces.Dict):
        if not isinstance(value, Mapping):
            raise ValueError(f"{name} must be a dict with keys {list(space.spaces)}, got {type(value).__name__}")
        if set(value) != set(space.spaces):
            raise ValueError(f"{name} has keys {sorted(map(str, value))[:10]}, the space {list(space.spaces)}")
        parts = [_encode(sub, value[key], f"{path}[{key!r}]") for key, sub in space.spaces.items()]
    elif isinstance(space, spaces.Tuple):
        if not isinstance(value, (tuple, list)) or len(value) != len(space.spaces):
            raise ValueError(f"{name} must be a tuple of {len(space.spaces)} entries, got {type(value).__name__}"
                             + (f" of {len(value)}" if isinstance(value, (tuple, list)) else ""))
        parts = [_encode(sub, item, f"{path}[{i}]") for i, (sub, item) in enumerate(zip(space.spaces, value))]
    else:
        return _encode_leaf(space, value, name)
    if len({batched for _, batched in parts}) > 1 or len({len(rows) for rows, _ in parts}) > 1:
        raise ValueError(f"{name} mixes single entries and batches, or batches of different sizes")
    return np.concatenate([rows for rows, _ in parts], axis=1), parts[0][1]


def _encode_leaf(space: spaces.Space, value: Any, name: str) -> tuple[np.ndarray, bool]:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is not a rectangular array") from None
    categorical = isinstance(space, (spaces.Discrete, spaces.MultiDiscrete))
    shape = () if isinstance(space, spaces.Discrete) else tuple(space.nvec.shape) if categorical else space.shape
    if arr.shape == shape:
        batched = False
    elif arr.ndim == len(shape) + 1 and arr.shape[1:] == shape:
        batched = True
    else:
        raise ValueError(f"{name} has shape {arr.shape}; {type(space).__name__} takes {shape} or a batch (n, *{shape})")
    rows = arr.shape[0] if batched else 1
    if not categorical:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
        return arr.reshape(rows, -1).astype(np.float32, copy=False), batched
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers ({_describe(space)}), got dtype {arr.dtype}")
    if isinstance(space, spaces.Discrete):
        nvec, start = np.array([int(space.n)]), np.array([int(space.start)])
    else:
        nvec, start = space.nvec.reshape(-1).astype(np.int64), space.start.reshape(-1).astype(np.int64)
    index = arr.reshape(rows, -1).astype(np.int64) - start
    if np.any(index < 0) or np.any(index >= nvec):
        raise ValueError(f"{name} holds a value outside {_describe(space)}")
    offsets = np.cumsum(nvec) - nvec
    out = np.zeros((rows, int(nvec.sum())), dtype=np.float32)
    out[np.arange(rows)[:, None], offsets + index] = 1.0
    return out, batched


def _describe(space: Any, limit: int = 120) -> str:
    """A space's repr on one line, cut to ``limit`` characters (a Box prints its bounds)."""
    text = " ".join(str(space).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- actions -----------------------------------------------------------------------------------
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


# -- JSON --------------------------------------------------------------------------------------
def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A JSON-able description of ``space``, which :func:`space_from_json` turns back into it.
    Bounds and counts are nested lists of the space's shape (``ndarray.tolist()``)."""
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(),
                "shape": list(space.shape), "dtype": np.dtype(space.dtype).name}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": space.n if isinstance(space.n, int) else list(space.n)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "shape": list(space.nvec.shape), "nvec": space.nvec.tolist(),
                "start": space.start.tolist(), "dtype": np.dtype(space.dtype).name}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(sub) for sub in space.spaces]}
    if isinstance(space, spaces.Dict):
        if not all(isinstance(key, str) for key in space.spaces):
            raise ValueError(f"cannot describe {_describe(space)}: Dict keys must be strings")
        return {"type": "Dict", "spaces": [[key, space_to_json(sub)] for key, sub in space.spaces.items()]}
    raise ValueError(f"cannot describe space {_describe(space)} (Box, Discrete, MultiBinary, MultiDiscrete, "
                     "Tuple and Dict are supported)")


def space_from_json(desc: Any) -> spaces.Space:
    """The space :func:`space_to_json` described. The description may come from a file, so it
    is checked before anything is built: at most :data:`MAX_SPACE_SIZE` elements and one-hot
    widths in the whole space, at most :data:`MAX_SPACE_COUNT` spaces in it, at most
    :data:`MAX_SPACE_DEPTH` levels of nesting and :data:`MAX_SPACE_NDIM` dimensions, bounds
    and counts given in full as nested lists of the declared shape (a scalar would let a tiny
    file declare a huge space), no NaN, numeric dtypes, string keys of at most
    :data:`MAX_KEY_LENGTH` characters, no key twice. Anything else is a one-line ``ValueError``."""
    return _from_json(desc, 0, [MAX_SPACE_SIZE, MAX_SPACE_COUNT])


def _from_json(desc: Any, depth: int, budget: list[int]) -> spaces.Space:
    if not isinstance(desc, dict):
        raise ValueError(f"a space description must be a dict, got {type(desc).__name__}")  # noqa: TRY004
    if depth > MAX_SPACE_DEPTH:
        raise ValueError(f"a space description nested more than {MAX_SPACE_DEPTH} levels deep")
    budget[1] -= 1
    if budget[1] < 0:
        raise ValueError(f"a space description of more than {MAX_SPACE_COUNT:,} spaces")
    kind = desc.get("type")
    if kind == "Discrete":
        n, start = desc.get("n"), desc.get("start", 0)
        if not _is_int(n) or not 1 <= n <= MAX_SPACE_SIZE or not _is_int(start) or abs(start) > 2**62:
            raise ValueError(f"a Discrete space needs an integer n in [1, {MAX_SPACE_SIZE}] and an integer start, "
                             f"got n={str(n)[:40]}, start={str(start)[:40]}")
        _spend(budget, n, "a Discrete space")
        return spaces.Discrete(n, start=start)
    if kind == "Box":
        return _box_from_json(desc, budget)
    if kind == "MultiBinary":                         # n: a count, or a shape
        n = desc.get("n")
        shape = _shape([n] if _is_int(n) else n, "MultiBinary")
        _spend(budget, math.prod(shape), "a MultiBinary space")
        return spaces.MultiBinary(n if _is_int(n) else list(shape))
    if kind == "MultiDiscrete":
        return _multi_discrete_from_json(desc, budget)
    if kind in ("Tuple", "Dict"):
        entries = desc.get("spaces")
        if not isinstance(entries, list):
            raise ValueError(f"a {kind} space needs a list of spaces, got {str(entries)[:60]}")
        if kind == "Tuple":
            return spaces.Tuple([_from_json(sub, depth + 1, budget) for sub in entries])
        keys = [entry[0] if isinstance(entry, list) and len(entry) == 2 else None for entry in entries]
        if not all(isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH for key in keys):
            raise ValueError(f"a Dict space needs [key, space] pairs with string keys of 1 to {MAX_KEY_LENGTH} "
                             "characters")
        if len(set(keys)) != len(keys):
            raise ValueError("a Dict space names a key twice")
        return spaces.Dict([(key, _from_json(sub, depth + 1, budget)) for key, (_, sub) in zip(keys, entries)])
    raise ValueError(f"unknown space description (type {str(kind)[:40]!r}); expected Box, Discrete, MultiBinary, "
                     "MultiDiscrete, Tuple or Dict")


def _box_from_json(desc: dict[str, Any], budget: list[int]) -> spaces.Box:
    shape, dtype = _shape(desc.get("shape"), "Box", allow_scalar=True), desc.get("dtype")
    _spend(budget, math.prod(shape), "a Box space")
    if dtype not in ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"):
        raise ValueError(f"a Box space needs a numeric dtype name, got {str(dtype)[:40]!r}")
    low, high = (_nested(desc.get(name), shape, f"a Box space needs {name} as", "numbers (no NaN)", _is_number)
                 for name in ("low", "high"))
    if np.any(low > high):
        raise ValueError("a Box space needs low <= high")
    if np.dtype(dtype).kind != "f" and not (np.isfinite(low).all() and np.isfinite(high).all()
                                            and np.abs(low).max() < 2**53 and np.abs(high).max() < 2**53):
        raise ValueError(f"a Box space of dtype {dtype} needs finite integer bounds below 2**53")
    try:
        return spaces.Box(low=low.astype(dtype), high=high.astype(dtype), shape=shape, dtype=dtype)
    except (ValueError, OverflowError, TypeError) as exc:    # e.g. an infinite bound of an integer Box
        raise ValueError(f"a Box space description is invalid: {str(exc).splitlines()[0][:120]}") from None


def _multi_discrete_from_json(desc: dict[str, Any], budget: list[int]) -> spaces.MultiDiscrete:
    shape, dtype = _shape(desc.get("shape"), "MultiDiscrete"), desc.get("dtype", "int64")
    _spend(budget, math.prod(shape), "a MultiDiscrete space")
    if dtype not in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"):
        raise ValueError(f"a MultiDiscrete space needs an integer dtype name, got {str(dtype)[:40]!r}")
    nvec = _nested(desc.get("nvec"), shape, "a MultiDiscrete space needs nvec as", f"integers in [1, {MAX_SPACE_SIZE}]",
                   lambda v: _is_int(v) and 1 <= v <= MAX_SPACE_SIZE, np.int64)
    _spend(budget, int(nvec.sum()), "a MultiDiscrete space's one-hot encoding")
    start = _nested(desc.get("start"), shape, "a MultiDiscrete space needs start as", "integers",
                    lambda v: _is_int(v) and abs(v) <= 2**62, np.int64)
    limits = np.iinfo(dtype)     # numpy would wrap a count or a value the dtype cannot hold
    if start.min() < limits.min or int((start + nvec - 1).max()) > limits.max or int(nvec.max()) > limits.max:
        raise ValueError(f"a MultiDiscrete space description is invalid: its values do not fit {dtype}")
    try:
        return spaces.MultiDiscrete(nvec, dtype=dtype, start=start)
    except (ValueError, OverflowError, TypeError) as exc:    # counts the dtype cannot hold
        raise ValueError(f"a MultiDiscrete space description is invalid: {str(exc).splitlines()[0][:120]}") from None


def _shape(shape: Any, kind: str, allow_scalar: bool = False) -> tuple[int, ...]:
    if (not isinstance(shape, list) or len(shape) > MAX_SPACE_NDIM or (not shape and not allow_scalar)
            or not all(_is_int(d) and 1 <= d <= MAX_SPACE_SIZE for d in shape)):
        raise ValueError(f"a {kind} space needs a shape of {'0' if allow_scalar else '1'} to {MAX_SPACE_NDIM} "
                         f"positive integers, got {str(shape)[:60]}")
    return tuple(shape)


def _spend(budget: list[int], amount: int, what: str) -> None:
    """Take ``amount`` elements from what the whole description may still hold (``budget[0]``;
    ``budget[1]`` counts the spaces left)."""
    if amount > budget[0]:
        raise ValueError(f"{what} of {amount:,} elements takes the description beyond the {MAX_SPACE_SIZE:,} "
                         "supported")
    budget[0] -= amount


def _nested(values: Any, shape: tuple[int, ...], what: str, noun: str, valid: Any,
            dtype: Any = np.float64) -> np.ndarray:
    """``values`` (nested lists of ``shape``, a bare value for shape ``()``) as an array of
    ``dtype``, each value passing ``valid``; checked level by level before numpy sees it."""
    def check(v: Any, dims: tuple[int, ...]) -> bool:
        if not dims:
            return valid(v)
        if not isinstance(v, list) or len(v) != dims[0]:
            return False
        if len(dims) == 1:
            return all(valid(x) for x in v)
        return all(check(x, dims[1:]) for x in v)

    if not check(values, shape):
        raise ValueError(f"{what} {math.prod(shape)} {noun} in nested lists of shape {shape}, got {str(values)[:60]}")
    return np.array(values, dtype=dtype)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A JSON number that is not NaN (infinite bounds are legitimate: CartPole's velocities)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))
