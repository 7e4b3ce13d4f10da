"""The losses of PPO and A2C (:mod:`agents.ppo`), their gradients by hand, and the update's
metrics.

Each minibatch step of the update, on B rows with advantages ``A``::

    Â = (A − mean A) / (std A + 1e-8) over the minibatch            (normalize_advantage)
    ρ = exp(log π(a|s) − log π_old(a|s))
    L_π = −mean min(ρ Â, clip(ρ, 1 − ε, 1 + ε) Â)                   (clip_range None: −mean ρ Â)
    L_V = mean (R − V_c)²,  V_c = V_old + clip(V − V_old, −ε_V, ε_V) (clip_range_vf None: V_c = V)
    L_H = −mean H[π(·|s)]
    L   = L_π + vf_coef L_V + ent_coef L_H,  gradients clipped to a global norm of max_grad_norm

Gradients (B rows): ``dL_π/dlog π = −ρ Â / B`` where the min takes the unclipped term (always when
ρ is inside the clip range), 0 elsewhere; ``dL_V/dV = 2 (V_c − R) / B`` where ``V − V_old`` is within
``±ε_V``, 0 elsewhere; on through the distributions (:mod:`agents.distributions`) and the networks.

A2C's single step sees ρ = 1, where ``d(−ρ Â)/dθ = −Â dlog π/dθ``: the gradient of A2C's policy
loss ``−mean(Â log π)``, exactly.

Speed (the numbers are those of the formulas above computed step by step): the advantages of all
of a pass's minibatches are normalized at once (:func:`normalized_advantages`); the metrics come
from the steps' per-row terms (:class:`LossTerms`) in one reduction per update
(:func:`update_metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

LOSS_METRIC_NAMES = ("policy_loss", "value_loss", "entropy_loss", "approx_kl", "clip_fraction")
"""What :func:`update_metrics` returns, in order; ``PPO.metric_names`` adds ``explained_variance``."""


def clipped_surrogate(log_ratio: np.ndarray, advantages: np.ndarray,
                      clip_range: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(min(ρ Â, clip(ρ) Â), dL_π/dlog π, ρ)`` for rows ``(B,)`` of ``log ρ = log π − log π_old``
    (formulas in the module docstring); ``L_π`` is minus the mean of the first."""
    ratio = np.exp(log_ratio)
    unclipped = ratio * advantages
    if clip_range is None:
        return unclipped, unclipped / -len(ratio), ratio
    clipped = np.maximum(ratio, 1.0 - clip_range)         # np.clip's result, without its wrapper's cost
    np.minimum(clipped, 1.0 + clip_range, out=clipped)
    clipped *= advantages
    live = unclipped <= clipped            # the min's pick; equal (so both) inside the clip range
    return np.minimum(unclipped, clipped), unclipped * live / -len(ratio), ratio


def value_loss(values: np.ndarray, old_values: np.ndarray, returns: np.ndarray,
               clip_range_vf: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(V_c − R, dL_V/dV)`` for rows ``(B,)``; ``L_V`` is the mean square of the first."""
    if clip_range_vf is None:
        error = values - returns
        return error, error * (2.0 / len(values))
    change = values - old_values
    error = old_values + np.clip(change, -clip_range_vf, clip_range_vf) - returns
    return error, error * (np.abs(change) <= clip_range_vf) * (2.0 / len(values))


def normalized_advantages(advantages: np.ndarray, batch_size: int | None) -> np.ndarray:
    """``(A − mean A) / (std A + 1e-8)`` over each run of ``batch_size`` rows of ``advantages``
    ``(n,)`` (None: all of them; the last run may be shorter; a run of one row is left as it
    is), the sample std (``ddof=1``). All the full runs at once, as one ``(n // batch_size,
    batch_size)`` matrix: the same numbers as ``np.mean`` and ``np.std`` of each run."""
    out = advantages.copy()
    n = len(advantages)
    size = n if batch_size is None else min(batch_size, n)
    full = n - n % size
    for part, width in ((slice(0, full), size), (slice(full, n), n - full)):
        if width < 2:
            continue
        runs = advantages[part].reshape(-1, width)
        centred = runs - np.add.reduce(runs, axis=1, keepdims=True) / width
        std = np.sqrt(np.add.reduce(centred * centred, axis=1, keepdims=True) / (width - 1))
        std += 1e-8
        np.divide(centred, std, out=out[part].reshape(-1, width))
    return out


@dataclass(slots=True)
class LossTerms:
    """The per-row terms of one minibatch's loss, each ``(B,)``, from which :func:`update_metrics`
    computes the update's metrics once at its end (not a reduction per metric per step)."""
    surrogate: np.ndarray
    """``min(ρ Â, clip(ρ) Â)``: ``policy_loss = −mean``."""
    value_error: np.ndarray
    """``V_c − R``: ``value_loss = mean of its square``."""
    entropy: np.ndarray
    """``H[π(·|s)]``: ``entropy_loss = −mean``."""
    log_ratio: np.ndarray
    """``log ρ``: ``approx_kl = mean(ρ − 1 − log ρ)`` (SB3's estimator)."""
    ratio: np.ndarray
    """``ρ``: ``clip_fraction = mean(|ρ − 1| > ε)``."""


TERM_NAMES = tuple(f.name for f in fields(LossTerms))


def update_metrics(steps: list[LossTerms], clip_range: float | None) -> dict[str, float]:
    """``policy_loss``, ``value_loss``, ``entropy_loss``, ``approx_kl``, ``clip_fraction``: each
    minibatch's mean, then their mean over the minibatch steps (0 for none). The steps' rows
    are stacked, one matrix per batch length, so each reduction runs once per update; the numbers
    are those of the per-step means (float32, as ``np.mean`` gives them) summed in order."""
    if not steps:
        return dict.fromkeys(LOSS_METRIC_NAMES, 0.0)
    means = np.zeros((len(steps), len(LOSS_METRIC_NAMES)))
    lengths: dict[int, list[int]] = {}
    for i, terms in enumerate(steps):
        lengths.setdefault(len(terms.ratio), []).append(i)
    for width, rows in lengths.items():
        t = LossTerms(*(np.stack([getattr(steps[i], name) for i in rows]) for name in TERM_NAMES))
        means[rows, 0] = -(np.add.reduce(t.surrogate, axis=1) / width)
        means[rows, 1] = np.add.reduce(t.value_error * t.value_error, axis=1) / width
        means[rows, 2] = -(np.add.reduce(t.entropy, axis=1) / width)
        means[rows, 3] = np.add.reduce(np.expm1(t.log_ratio) - t.log_ratio, axis=1) / width
        if clip_range is not None:
            means[rows, 4] = np.count_nonzero(np.abs(t.ratio - 1.0) > clip_range, axis=1) / width
    totals = np.cumsum(means, axis=0)[-1] / len(steps)      # summed in order, as a running += does
    return dict(zip(LOSS_METRIC_NAMES, totals.tolist()))
