"""Loss functions. Each is called as ``loss(prediction, target) -> (value, grad)`` where
``value`` is a Python float and ``grad = dL/dprediction`` has the prediction's shape.

=====================  ==============================================================
loss                   value (before reduction), per element or per row
=====================  ==============================================================
SquaredError           (y - t)^2, or (y - t)^2 / 2 with ``half=True``   (seeds 001, 002)
Huber                  (y - t)^2 / 2 if |y - t| <= d, else d (|y - t| - d/2)
SoftmaxCrossEntropy    -sum_k t_k log softmax(z)_k  (t one-hot, or an integer label) (001)
BCEWithLogits          -(t log s(z) + (1 - t) log(1 - s(z))),  s = sigmoid
=====================  ==============================================================

``reduction="sum"`` adds the terms up (the seeds' ``E``); ``"mean"`` divides by the number of
terms: elements for the element-wise losses, rows for the cross-entropy.
Mismatched shapes raise a ``ValueError`` that names both shapes, before any arithmetic.
"""

from __future__ import annotations

import numpy as np

from .checks import check_finite

_REDUCTIONS = ("sum", "mean")


class Loss:
    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def _scale(self, count: int) -> float:
        return 1.0 / count if self.reduction == "mean" else 1.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"


def _same_shape(name: str, prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    if prediction.shape != target.shape:
        raise ValueError(f"{name}: prediction has shape {prediction.shape} but target has shape {target.shape}")
    if target.dtype != prediction.dtype:
        if target.dtype.kind not in "biuf":
            raise TypeError(f"{name}: target must be numeric, got dtype {target.dtype}")
        target = target.astype(prediction.dtype)
    return prediction, target


class SquaredError(Loss):
    """``E = c * sum (y - t)^2`` with ``c = 1/2`` when ``half`` and ``1/count`` for ``"mean"``.

    ``dE/dy = 2c (y - t)`` (or ``c (y - t)`` when halved).
    """

    def __init__(self, reduction: str = "mean", half: bool = False) -> None:
        super().__init__(reduction)
        self.half = bool(half)

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        prediction, target = _same_shape("SquaredError", prediction, target)
        diff = prediction - target
        c = self._scale(diff.size) * (0.5 if self.half else 1.0)
        value = c * float(np.vdot(diff, diff))
        diff *= 2.0 * c
        return value, diff


class Huber(Loss):
    """Quadratic within ``delta`` of the target, linear beyond: a TD loss that large errors
    cannot blow up. ``dE/dy = clip(y - t, -delta, delta)`` (times ``1/count`` for ``"mean"``)."""

    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if isinstance(delta, bool) or not isinstance(delta, (int, float, np.integer, np.floating)) \
                or not 0 < delta < np.inf:
            raise ValueError(f"Huber delta must be a finite positive number, got {delta!r}")
        self.delta = float(delta)

    def __call__(self, prediction: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        prediction, target = _same_shape("Huber", prediction, target)
        diff = prediction - target
        d = self.delta
        grad = np.clip(diff, -d, d)
        # With g = clip(e, -d, d): g e − g²/2 is e²/2 inside the band and d(|e| − d/2) outside,
        # so the value needs two dot products and no per-element temporaries.
        value = float(np.vdot(grad, diff)) - 0.5 * float(np.vdot(grad, grad))
        c = self._scale(diff.size)
        grad *= c
        return c * value, grad


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of ``softmax(z)`` against one-hot rows ``t`` (shape ``(N, C)``) or integer
    labels (shape ``(N,)``), from logits ``z`` of shape ``(N, C)``.

    ``log softmax(z) = z - max z - log sum exp(z - max z)`` never overflows, and the gradient
    is simply ``dE/dz = softmax(z) - t`` (divided by ``N`` for ``"mean"``).
    """

    def __call__(self, logits: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        logits = np.asarray(logits)
        target = np.asarray(target)
        if logits.ndim != 2:
            raise ValueError(f"SoftmaxCrossEntropy: logits must have shape (N, C), got {logits.shape}")
        n, classes = logits.shape
        if target.ndim == 1:
            if target.shape[0] != n:
                raise ValueError(f"SoftmaxCrossEntropy: {n} rows of logits but {target.shape[0]} labels")
            if target.dtype.kind not in "iu":
                raise TypeError(f"SoftmaxCrossEntropy: labels must be integers, got dtype {target.dtype}")
            if n and (target.min() < 0 or target.max() >= classes):
                raise ValueError(f"SoftmaxCrossEntropy: labels must lie in [0, {classes}), got range "
                                 f"[{target.min()}, {target.max()}]")
            one_hot = np.zeros_like(logits)
            one_hot[np.arange(n), target] = 1
        elif target.shape == logits.shape:
            one_hot = target.astype(logits.dtype, copy=False)
        else:
            raise ValueError(f"SoftmaxCrossEntropy: target must be labels of shape ({n},) or one-hot of shape "
                             f"{logits.shape}, got {target.shape}")
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_prob = shifted - log_sum
        c = self._scale(n)
        value = -c * float((one_hot * log_prob).sum())
        grad = np.exp(log_prob)
        grad -= one_hot
        grad *= c
        return value, grad


class BCEWithLogits(Loss):
    """Binary cross-entropy of ``sigmoid(z)`` against targets ``t`` in [0, 1], from logits.

    Written as ``max(z, 0) - z t + log(1 + e^-|z|)`` so no exponential overflows;
    ``dE/dz = sigmoid(z) - t`` (divided by the element count for ``"mean"``).
    """

    def __call__(self, logits: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        logits, target = _same_shape("BCEWithLogits", logits, target)
        per_element = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        c = self._scale(logits.size)
        grad = 0.5 * (1.0 + np.tanh(0.5 * logits)) - target
        grad *= c
        return c * float(per_element.sum()), grad.astype(logits.dtype, copy=False)


def check_loss_inputs(prediction: np.ndarray, target: np.ndarray) -> None:
    """Optional guard: raise a ``ValueError`` if either array holds a NaN or an infinity."""
    check_finite(np.asarray(prediction), "loss prediction")
    check_finite(np.asarray(target), "loss target")
