"""The action distributions of the on-policy agents (:mod:`agents.ppo`), each with its
log-probability, entropy and their gradients by hand::

    Categorical    π(a|s) = p_a = softmax(z)_a,  log π(a) = z_a − logsumexp(z)
                   dlog π(a)/dz = onehot(a) − p,  H = −Σ p log p,  dH/dz = −p ⊙ (log p + H)
    DiagGaussian   N(μ, diag σ²), log σ = ℓ,  log π(a) = −½ Σ ((a − μ)/σ)² − Σ ℓ − (d/2) log 2π
                   dlog π/dμ = (a − μ)/σ²,  dlog π/dℓ = (a − μ)²/σ² − 1
                   H = Σ (ℓ + ½ log 2πe),  dH/dℓ = 1

``backward(actions, dL/dlog π, dL/dH)`` turns the gradients of a loss with respect to the
per-row log-probabilities and entropies (each ``(B,)``) into the gradient with respect to the
distribution's parameters. :class:`LogStd` holds a Gaussian policy's state-independent ``ℓ``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rlnn.module import Module, Parameter

HALF_LOG_2PI_E = 0.5 * math.log(2 * math.pi * math.e)


class Categorical:
    """``π(a|s) = softmax(z)_a`` for logits ``z`` ``(B, k)``; actions are indices ``(B,)``."""

    def __init__(self, logits: np.ndarray) -> None:
        # The ufuncs' reduce, not the methods .max/.sum: the same numbers without the wrappers' cost.
        shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
        self.log_p = np.subtract(shifted, np.log(np.add.reduce(np.exp(shifted), axis=1, keepdims=True)), out=shifted)
        self.p = np.exp(self.log_p)
        self._entropy: np.ndarray | None = None
        self._row_index: np.ndarray | None = None

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """Inverse CDF: the count of ``Σ_{i≤j} p_i < u`` over ``j < k − 1`` (the last class is what
        rounding leaves, so the count never passes ``k − 1``; the cumulative sums never decrease)."""
        below = np.cumsum(self.p[:, :-1], axis=1) < rng.random((len(self.p), 1))
        return np.add.reduce(below, axis=1)

    def mode(self) -> np.ndarray:
        return self.p.argmax(axis=1)

    def log_prob(self, actions: np.ndarray) -> np.ndarray:
        return self.log_p[self._rows(), actions]

    def _rows(self) -> np.ndarray:
        """``0, ..., B − 1``, made once: the row index of every per-action pick."""
        if self._row_index is None:
            self._row_index = np.arange(len(self.p))
        return self._row_index

    def entropy(self) -> np.ndarray:
        if self._entropy is None:           # the loss and its backward both need it
            self._entropy = -np.add.reduce(self.p * self.log_p, axis=1)
        return self._entropy

    def backward(self, actions: np.ndarray, g_log_prob: np.ndarray,
                 g_entropy: np.ndarray) -> tuple[np.ndarray, None]:
        """``dL/dz`` ``(B, k)`` from ``dL/dlog π(a)`` and ``dL/dH`` (each ``(B,)``)."""
        grad = self.log_p + self.entropy()[:, None]
        grad *= -g_entropy[:, None]
        grad -= g_log_prob[:, None]
        grad *= self.p                      # −p ⊙ ((log p + H) dL/dH + dL/dlog π), signs moved (exactly)
        grad[self._rows(), actions] += g_log_prob
        return grad, None


class DiagGaussian:
    """``N(μ, diag σ²)`` for means ``μ`` ``(B, d)`` and a state-independent ``log σ = ℓ`` ``(d,)``."""

    def __init__(self, mean: np.ndarray, log_std: np.ndarray) -> None:
        self.mean, self.log_std, self.std = mean, log_std, np.exp(log_std)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.mean + self.std * rng.standard_normal(self.mean.shape, dtype=self.mean.dtype)

    def mode(self) -> np.ndarray:
        return self.mean

    def log_prob(self, actions: np.ndarray) -> np.ndarray:
        z = (actions - self.mean) / self.std
        return -0.5 * (z * z).sum(axis=1) - (self.log_std.sum() + self.mean.shape[1] * 0.5 * math.log(2 * math.pi))

    def entropy(self) -> np.ndarray:
        return np.full(len(self.mean), self.log_std.sum() + self.mean.shape[1] * HALF_LOG_2PI_E, self.mean.dtype)

    def backward(self, actions: np.ndarray, g_log_prob: np.ndarray,
                 g_entropy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dL/dμ (B, d), dL/dℓ (d,))`` from ``dL/dlog π(a)`` and ``dL/dH`` (each ``(B,)``)."""
        z = (actions - self.mean) / self.std
        g_mean = z * (g_log_prob[:, None] / self.std)
        g_log_std = (g_log_prob[:, None] * (z * z - 1.0)).sum(axis=0) + g_entropy.sum()
        return g_mean, g_log_std


class LogStd(Module):
    """The Gaussian policy's ``log σ`` ``(d,)``: a module of one parameter, stepped and saved like a network."""

    def __init__(self, dim: int, value: float, dtype: Any) -> None:
        self.log_std = Parameter(np.full(dim, value, dtype=dtype))

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("log_std", self.log_std)]
