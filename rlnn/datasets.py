"""The seeds' toy problems as small, seeded generators (numpy only).

=========================  ==========================================================  =====
function                   returns                                                     seed
=========================  ==========================================================  =====
``logic_gate(name)``       the 4 rows of a truth table: X (4, 2), y (4, 1) in {0, 1}   001, 003
``noisy_sine(n, std)``     x = linspace(0, 0.5, n), t = sin(2 pi x) + N(0, std^2)      002
``plane_pattern(name)``    points of [-1, 1]^2, X (n, 2), y (n, 1) in {-1, +1}          000
=========================  ==========================================================  =====

Everything draws from a ``np.random.Generator`` that is passed in, except the two functions
that reproduce seed 002's notebook to the digit: they use ``np.random.RandomState(1234)``,
which yields the same stream as the notebook's ``np.random.seed(1234)`` without touching
numpy's global state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .init import make_rng

# -- logic gates (seeds 001 and 003) -----------------------------------------------------------

_GATE_INPUTS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
LOGIC_GATES: dict[str, tuple[int, int, int, int]] = {
    # outputs for the inputs (0,0), (1,0), (0,1), (1,1)
    "AND": (0, 0, 0, 1),
    "NAND": (1, 1, 1, 0),
    "OR": (0, 1, 1, 1),
    "XOR": (0, 1, 1, 0),
}


def logic_gate(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Truth table of ``name`` (AND, NAND, OR, XOR): ``X`` (4, 2) and ``y`` (4, 1), float64.

    AND, NAND and OR are linearly separable, so one neuron learns them; XOR is not (seed 001).
    """
    key = name.upper()
    if key not in LOGIC_GATES:
        raise ValueError(f"unknown logic gate {name!r}; choose from {sorted(LOGIC_GATES)}")
    return _GATE_INPUTS.copy(), np.array(LOGIC_GATES[key], dtype=np.float64)[:, None]


# -- seed 002: the notebook's noisy sine, by its exact recipe ----------------------------------

def noisy_sine(n: int = 40, std: float = 0.05, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """Seed 002's data: ``x = linspace(0, 0.5, n)``, ``t = sin(2 pi x) + N(0, std^2)``.

    Returns ``(x, t)``, both of shape ``(n,)``, float64. The noise is the notebook's
    ``np.random.seed(seed); np.random.normal(scale=std, size=n)`` drawn from a private
    ``RandomState`` (same stream, no global state), so the figures of the text reproduce.
    """
    legacy = np.random.RandomState(seed)
    x = np.linspace(0.0, 0.5, n)
    t = np.sin(2.0 * np.pi * x) + legacy.normal(scale=std, size=x.shape)
    return x, t


def noisy_sine_notebook_weights(hidden: int = 8, seed: int = 1234) -> dict[str, np.ndarray]:
    """Seed 002's initial weights as a state dict for ``MLP([1, hidden, 1], "sigmoid")``.

    The notebook draws ``W, V, bs`` (each ``hidden`` values) and then ``b0`` from N(0, 1)
    after ``np.random.seed(seed)``; its net is ``y = V . sigmoid(W x + bs) + b0``, i.e.
    ``0.weight = W`` (1, hidden), ``0.bias = bs``, ``2.weight = V`` (hidden, 1), ``2.bias = b0``.
    """
    legacy = np.random.RandomState(seed)
    w = legacy.normal(0.0, 1.0, hidden)
    v = legacy.normal(0.0, 1.0, hidden)
    bs = legacy.normal(0.0, 1.0, hidden)
    b0 = legacy.normal()
    return {"0.weight": w[None, :], "0.bias": bs, "2.weight": v[:, None], "2.bias": np.array([b0])}


# -- seed 000: colour the plane red (+1) or blue (-1) ------------------------------------------

def _linear(X: np.ndarray) -> np.ndarray:
    return X[:, 1] > 0.6 * X[:, 0] - 0.2


def _stripes(X: np.ndarray) -> np.ndarray:
    # Diagonal bands of width 0.5 along the direction (1, 0.5), alternating colours.
    band = np.floor((X[:, 0] + 0.5 * X[:, 1] + 2.0) / 0.5)
    return band % 2 == 0


def _circles(X: np.ndarray) -> np.ndarray:
    # Two circles of different size, placed off-centre (the seed's "asymmetric circles").
    big = (X[:, 0] + 0.35) ** 2 + (X[:, 1] - 0.3) ** 2 < 0.45 ** 2
    small = (X[:, 0] - 0.45) ** 2 + (X[:, 1] + 0.4) ** 2 < 0.3 ** 2
    return big | small


def _mixed(X: np.ndarray) -> np.ndarray:
    # A straight border (a half-plane) crossed by a curved one (a circle): XOR of the two.
    half_plane = X[:, 0] + 0.3 * X[:, 1] < 0.1
    disc = (X[:, 0] - 0.2) ** 2 + (X[:, 1] - 0.2) ** 2 < 0.5 ** 2
    return half_plane ^ disc


PLANE_PATTERNS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": _linear,      # linearly separable
    "stripes": _stripes,    # stripes
    "circles": _circles,    # two asymmetric circles
    "mixed": _mixed,        # straight and curved borders mixed
}


def plane_label(name: str, X: np.ndarray) -> np.ndarray:
    """The true colour of points ``X`` (m, 2) under pattern ``name``: (m, 1), +1 red, -1 blue."""
    if name not in PLANE_PATTERNS:
        raise ValueError(f"unknown plane pattern {name!r}; choose from {sorted(PLANE_PATTERNS)}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"plane points must have shape (m, 2), got {X.shape}")
    return np.where(PLANE_PATTERNS[name](X), 1.0, -1.0)[:, None]


def plane_pattern(name: str, n: int = 400, rng: np.random.Generator | int | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points drawn uniformly from [-1, 1]^2 and coloured by pattern ``name``.

    Returns ``X`` (n, 2) float64 and ``y`` (n, 1) in {-1.0, +1.0} (seed 000: -1 blue, +1 red;
    a network with a tanh output in [-1, 1] fits it). Names: ``PLANE_PATTERNS``.
    """
    if name not in PLANE_PATTERNS:
        raise ValueError(f"unknown plane pattern {name!r}; choose from {sorted(PLANE_PATTERNS)}")
    X = make_rng(rng).uniform(-1.0, 1.0, size=(int(n), 2))
    return X, plane_label(name, X)


__all__ = ["LOGIC_GATES", "PLANE_PATTERNS", "logic_gate", "noisy_sine", "noisy_sine_notebook_weights",
           "plane_label", "plane_pattern"]
