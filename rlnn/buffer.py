"""Buffers: the state a layer keeps that is not trained (running statistics, step counts,
generator states). ``Module.state_dict`` and ``load_state_dict`` (:mod:`rlnn.module`) carry them
beside the parameters; no optimiser sees them."""

from __future__ import annotations

import numpy as np

from .checks import cast_parameter


class Buffer:
    """A non-trainable array a module keeps between calls: running statistics, a step count, a
    generator's state. It has no gradient and is not in ``parameters()``; ``state_dict`` and
    ``load_state_dict`` carry it. Its storage never moves: a module updates it in place
    (``buf.value += ...`` or assigning ``buf.value = new``, which copies in), so a replica
    shares it as it shares the parameters. ``low`` is the least value a loaded state may hold
    (0 for a variance or a count)."""

    __slots__ = ("_value", "low")

    def __init__(self, value: np.ndarray, low: float | None = None) -> None:
        value = np.asarray(value)
        if value.dtype.kind not in "iuf":
            raise TypeError(f"Buffer needs a real numeric array, got dtype {value.dtype}")
        self._value = np.array(value, copy=True)
        self.low = low

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new: np.ndarray) -> None:
        if new is self._value:    # `buf.value += x` assigns the same array back
            return
        new = np.asarray(new)
        if new.shape != self._value.shape:
            raise ValueError(f"cannot assign an array of shape {new.shape} to a buffer of shape {self._value.shape}")
        np.copyto(self._value, new, casting="same_kind")

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    def __repr__(self) -> str:
        return f"Buffer(shape={self.shape}, dtype={self.dtype})"


def cast_buffer(src: np.ndarray, buffer: Buffer, what: str) -> np.ndarray:
    """``src`` as a value for ``buffer``, or a ``ValueError`` naming ``what``: a floating-point
    buffer takes what :func:`cast_parameter` takes; an integer one (a count, a generator's words)
    only integers within its dtype's range; neither takes a value below ``buffer.low``."""
    dtype = buffer.dtype
    if dtype.kind == "f":
        cast = cast_parameter(src, dtype, what)
    else:
        if src.dtype.kind not in "iu":
            raise ValueError(f"{what} has dtype {src.dtype}; this state holds integers ({dtype.name})")
        info = np.iinfo(dtype)
        if src.size and (int(src.min()) < info.min or int(src.max()) > info.max):
            raise ValueError(f"{what} holds integers outside the range of {dtype.name}")
        cast = src.astype(dtype)
    if buffer.low is not None and cast.size and cast.min() < buffer.low:
        raise ValueError(f"{what} holds {cast.min()}, below its least possible value {buffer.low}")
    return cast
