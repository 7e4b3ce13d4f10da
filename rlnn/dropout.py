"""Dropout (seed 001's empty chapter; Srivastava et al. 2014), in its inverted form.

In train mode each element is kept with probability ``1 − p`` and scaled by ``1 / (1 − p)``, so
the expected output is the input and eval mode needs no rescaling::

    train:  y = x ⊙ m / (1 − p),   m ~ Bernoulli(1 − p) elementwise, a new mask each forward
            dL/dx = g ⊙ m / (1 − p)          (the forward's mask)
    eval:   y = x                           (``predict`` always)

The masks come from the layer's own generator (PCG64, seeded by ``seed``), never from global
state. Its state is a buffer, ``rng_state`` (six uint64 words), so ``state_dict``, ``rlnn.save``
and agent checkpoints carry it, and a resumed run draws the masks an uninterrupted one would.
A replica shares the generator's state (as it shares the parameters): the passes of a network
and its replicas draw one stream between them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .buffer import Buffer
from .feature_layer import FeatureLayer
from .module import register_module
from .optim import hyperparameter

_WORD = (1 << 64) - 1


def generator_words(state: dict[str, Any]) -> np.ndarray:
    """A PCG64 ``bit_generator.state`` as six uint64 words: the 128-bit state and increment
    (high word first), ``has_uint32`` and ``uinteger``."""
    inner = state["state"]
    return np.array([inner["state"] >> 64, inner["state"] & _WORD, inner["inc"] >> 64, inner["inc"] & _WORD,
                     state["has_uint32"], state["uinteger"]], dtype=np.uint64)


def generator_state(words: np.ndarray) -> dict[str, Any]:
    """Inverse of :func:`generator_words`."""
    s_hi, s_lo, i_hi, i_lo, has_uint32, uinteger = (int(w) for w in words)
    return {"bit_generator": "PCG64", "state": {"state": s_hi << 64 | s_lo, "inc": i_hi << 64 | i_lo},
            "has_uint32": has_uint32, "uinteger": uinteger}


@register_module
class Dropout(FeatureLayer):
    """Inverted dropout with drop probability ``p`` in ``[0, 1)``, on inputs of any width.

    ``seed`` (an integer, or ``None`` for fresh entropy) seeds the layer's generator; the
    generator's state after each draw is the buffer ``rng_state``. ``p = 0`` and eval mode pass
    the input through (the same array)."""

    def __init__(self, p: float = 0.5, *, seed: int | None = None) -> None:
        self.p = hyperparameter(p, "Dropout p", 0.0, 1.0, high_open=True)
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"Dropout seed must be an integer >= 0 or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        bit_generator = np.random.PCG64(self.seed)
        self._rng = np.random.Generator(bit_generator)
        self.rng_state = Buffer(generator_words(bit_generator.state))
        self._mask: np.ndarray | None = None

    def _name(self) -> str:
        return f"Dropout({self.p:g})"

    @property
    def _fresh(self) -> bool:
        """Whether the last forward made new arrays (a mask was drawn) or passed its input through."""
        return self._mask is not None

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return [("rng_state", self.rng_state)]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return x

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        self._mask = self._draw(x.shape, x.dtype)
        return x * self._mask

    def _draw(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """``m / (1 − p)`` of ``shape``, from the generator state in the buffer (which may have
        been loaded since the last draw), the state after the draw written back."""
        bit_generator = self._rng.bit_generator
        bit_generator.state = generator_state(self.rng_state.value)
        uniform = self._rng.random(shape, dtype=dtype if dtype in (np.float32, np.float64) else np.float64)
        self.rng_state.value = generator_words(bit_generator.state)
        mask = (uniform >= self.p).astype(dtype)
        mask *= 1.0 / (1.0 - self.p)
        return mask

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True, accumulate: bool = True) -> np.ndarray | None:
        if not input_grad:
            return None
        if self._mask is None:
            return grad_out
        g = self._grad_in(grad_out, self._mask.shape[0])
        if g.shape != self._mask.shape:
            raise ValueError(f"{self._name()}.backward expects a gradient of shape {self._mask.shape}, got {g.shape}")
        return g * self._mask

    def config(self) -> dict[str, Any]:
        return {"type": "Dropout", "p": self.p, "seed": self.seed}


__all__ = ["Dropout", "generator_state", "generator_words"]
