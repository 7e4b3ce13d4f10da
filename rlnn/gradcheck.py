"""Finite-difference gradient checking.

The central difference ``(f(θ + h) − f(θ − h)) / 2h`` has error ``O(h²)``; in float64 with
``h = 1e-6`` it agrees with a correct analytic gradient to about 1e-9 relative. The error we
report for an array is ``‖a − n‖ / max(‖a‖ + ‖n‖, tiny)`` (norms over the whole array), which
stays meaningful where individual entries are zero (dead ReLUs, untouched Q-values).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .module import Module


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"shape mismatch: analytic {analytic.shape} vs numeric {numeric.shape}")
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / max(denom, 1e-30))


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``df/darray`` by central differences, perturbing ``array`` in place (restored after)."""
    grad = np.zeros(array.shape, dtype=np.float64)
    flat = array.reshape(-1)  # a view: perturbing it perturbs what f reads
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    g = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        g[i] = (up - down) / (2 * eps)
    return grad


def check_module(module: Module, x: np.ndarray, rng: np.random.Generator | int = 0,
                 eps: float = 1e-6) -> float:
    """Worst relative error of ``module``'s backward, for every parameter and the input.

    Uses the scalar ``L = sum(module(x) * R)`` with a fixed random ``R``, so ``dL/dy = R``.
    The module and ``x`` should be float64.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    x = np.array(x, dtype=np.float64)
    y = module(x)
    r = rng.standard_normal(y.shape)

    def loss() -> float:
        return float((module(x) * r).sum())

    module.zero_grad()
    module(x)
    grad_x = module.backward(r.copy())
    worst = relative_error(grad_x, numerical_gradient(loss, x, eps))
    for p in module.parameters():
        worst = max(worst, relative_error(p.grad.copy(), numerical_gradient(loss, p.value, eps)))
    return worst


def check_loss(loss_fn: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]],
               prediction: np.ndarray, target: np.ndarray, eps: float = 1e-6) -> float:
    """Relative error of a loss's gradient with respect to its prediction argument."""
    prediction = np.array(prediction, dtype=np.float64)
    _, grad = loss_fn(prediction.copy(), target)
    numeric = numerical_gradient(lambda: loss_fn(prediction, target)[0], prediction, eps)
    return relative_error(grad, numeric)

