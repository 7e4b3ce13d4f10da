"""Weight initialisers (seed 000: why ``Math.random()*2-1`` stalls and what to use instead).

For a weight matrix of shape ``(fan_in, fan_out)``:

==================  =============================================  ==========================
name                distribution                                   for
==================  =============================================  ==========================
``xavier_normal``   N(0, 1/fan_in)              (Var = 1/n)         sigmoid, tanh, identity
``xavier_uniform``  U(-sqrt(3/fan_in), +sqrt(3/fan_in))  (Var = 1/n)
``he_normal``       N(0, 2/fan_in)              (Var = 2/n)         ReLU, leaky ReLU
``he_uniform``      U(-sqrt(6/fan_in), +sqrt(6/fan_in))  (Var = 2/n)
``fan_in_uniform``  U(-1/sqrt(fan_in), +1/sqrt(fan_in))  (Var = 1/3n)  PyTorch's ``nn.Linear`` default
``uniform``         U(-1, 1)                    (the naive choice)
``normal``          N(0, 1)                     (seed 002's notebook)
``zeros``           0                           (biases)
``orthogonal``      gain · Q, Q from the QR of a normal matrix      PPO, A2C (see below)
==================  =============================================  ==========================

``fan_in_uniform`` is the "commonly used heuristic" Glorot & Bengio (2010, eq. 1) start from,
and what PyTorch's ``nn.Linear`` draws for its weights and biases; it is there so that a config
written for a PyTorch library (``ortho_init=False`` in Stable-Baselines3) starts where it did.

Variance ``1/n`` keeps the variance of a unit's pre-activation equal to that of its inputs
when the activation is near-linear around 0; ReLU zeroes half of its inputs, so He doubles it.
(Glorot's original ``2/(fan_in + fan_out)`` averages the forward and backward pass; we use the
forward form that seed 000 describes.) Every initialiser draws from the generator it is given.

``orthogonal`` (Saxe et al. 2014) gives a matrix whose rows or columns are orthonormal, times
``gain``: every singular value is ``gain``, so a linear layer neither grows nor shrinks any
direction of its input. Policy-gradient codes (OpenAI Baselines, Stable-Baselines3, CleanRL)
use it with gain √2 for hidden layers, 0.01 for the policy's output layer (a near-uniform first
policy) and 1 for the value head; ``functools.partial(orthogonal, gain=g)`` is an initialiser.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

InitFn = Callable[[tuple[int, ...], np.random.Generator, np.dtype], np.ndarray]


def _fan_in(shape: tuple[int, ...]) -> int:
    return shape[0] if len(shape) > 1 else 1


def xavier_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(1.0 / _fan_in(shape))).astype(dtype)


def xavier_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    limit = np.sqrt(3.0 / _fan_in(shape))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def he_normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / _fan_in(shape))).astype(dtype)


def he_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    limit = np.sqrt(6.0 / _fan_in(shape))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def fan_in_uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    limit = 1.0 / np.sqrt(_fan_in(shape))
    return rng.uniform(-limit, limit, shape).astype(dtype)


def uniform(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, shape).astype(dtype)


def normal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def orthogonal(shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32, gain: float = 1.0) -> np.ndarray:
    """``gain · Q`` of ``shape = (n, m, ...)`` read as an ``n × m'`` matrix (``m'`` the product of
    the other dimensions): ``Q Qᵀ = I`` when ``n <= m'``, ``Qᵀ Q = I`` otherwise. ``Q`` comes from the
    QR decomposition ``A = Q R`` of a standard normal ``A``, with the sign of each column set by
    ``diag(R)``, which makes it uniformly (Haar) distributed over such matrices."""
    rows = shape[0] if shape else 1
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype)


def zeros(shape: tuple[int, ...], rng: np.random.Generator | None = None, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


INITIALIZERS: dict[str, InitFn] = {
    "xavier_normal": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "fan_in_uniform": fan_in_uniform,
    "uniform": uniform,
    "normal": normal,
    "zeros": zeros,
    "orthogonal": orthogonal,
}


def get_initializer(name_or_fn: str | InitFn) -> InitFn:
    """Look an initialiser up by name (see the table above) or pass a callable through."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in INITIALIZERS:
        raise ValueError(f"unknown initializer {name_or_fn!r}; choose from {sorted(INITIALIZERS)}")
    return INITIALIZERS[name_or_fn]


def default_initializer(activation: str) -> str:
    """He for the ReLU family, Xavier otherwise (seed 000)."""
    return "he_uniform" if activation in ("relu", "leaky_relu") else "xavier_uniform"


def make_rng(rng_or_seed: np.random.Generator | int | None) -> np.random.Generator:
    """A ``np.random.Generator`` from a generator (used as is), a seed, or ``None`` (fresh entropy)."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if rng_or_seed is None or isinstance(rng_or_seed, (int, np.integer)):
        return np.random.default_rng(rng_or_seed)
    raise TypeError(f"expected a numpy Generator, an int seed or None, got {type(rng_or_seed).__name__}")
