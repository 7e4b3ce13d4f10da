"""Supervised training (seeds 001-004): mini-batch loop, standardisation, train/test split.

One epoch of :func:`fit` visits every sample once, in batches::

    for each batch (x, t):   y = model(x);  E, dE/dy = loss(y, t)
                             zero_grad;  model.backward(dE/dy);  optimizer.step()

``batch_size=None`` is full-batch gradient descent (seed 002); ``batch_size=1`` with
``shuffle=True`` is the stochastic gradient descent of seed 000.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .init import make_rng
from .checks import as_float_array, check_finite
from .module import Module
from .optim import Optimizer

Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass
class History:
    """Per-epoch records: ``loss`` is the mean of the epoch's batch losses; ``val_loss`` and the
    metric entries are computed on the full sets at the end of each epoch."""
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metric: list[float] = field(default_factory=list)
    val_metric: list[float] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return getattr(self, key)


def fit(model: Module, X: np.ndarray, y: np.ndarray, loss: Callable, optimizer: Optimizer, epochs: int,
        batch_size: int | None = None, shuffle: bool = True, rng: np.random.Generator | int | None = None,
        validation: tuple[np.ndarray, np.ndarray] | None = None, metric: Metric | None = None,
        callback: Callable[[int, History], None] | None = None) -> History:
    """Train ``model`` on ``(X, y)`` for ``epochs`` passes; returns the :class:`History`.

    ``X``: ``(N, in)``; ``y``: ``(N, out)`` or ``(N,)`` integer labels, as ``loss`` expects.
    Inputs are checked once for shape agreement and non-finite values.
    ``callback(epoch, history)`` runs after each epoch (for animations, early stopping, logs).
    """
    dtype = model.parameters()[0].dtype if model.parameters() else np.float64
    X = as_float_array(X, dtype, "X")
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, features), got {X.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
    check_finite(X, "X")
    if y.dtype.kind == "f":
        check_finite(y, "y")
    n = X.shape[0]
    batch = n if batch_size is None else int(batch_size)
    if batch < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = make_rng(rng)
    history = History()
    for epoch in range(int(epochs)):
        order = rng.permutation(n) if shuffle else np.arange(n)
        total, batches = 0.0, 0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = (X, y) if batch >= n and not shuffle else (X[idx], y[idx])
            value, grad = loss(model(xb), yb)
            model.zero_grad()
            model.backward(grad, input_grad=False)
            optimizer.step()
            total += value
            batches += 1
        history.loss.append(total / batches)
        # Metrics and validation in eval mode (running statistics, no dropout), touching no buffer.
        if metric is not None:
            history.metric.append(float(metric(model.predict(X), y)))
        if validation is not None:
            Xv, yv = validation
            pred = model.predict(as_float_array(Xv, dtype, "validation X"))
            history.val_loss.append(float(loss(pred, yv)[0]))
            if metric is not None:
                history.val_metric.append(float(metric(pred, yv)))
        if callback is not None:
            callback(epoch, history)
    return history


def accuracy(prediction: np.ndarray, target: np.ndarray) -> float:
    """Fraction correct. Multi-column predictions: argmax vs integer or one-hot targets.
    One column: sign for targets in {-1, 1}, threshold 0.5 for targets in {0, 1}."""
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    if prediction.ndim == 2 and prediction.shape[1] > 1:
        labels = target if target.ndim == 1 else target.argmax(axis=1)
        return float((prediction.argmax(axis=1) == labels).mean())
    p, t = prediction.reshape(-1), target.reshape(-1)
    if t.min() < 0:
        return float((np.sign(p) == np.sign(t)).mean())
    return float(((p > 0.5) == (t > 0.5)).mean())


class Standardizer:
    """``z = (x − mean) / std`` per column, fitted on training data; ``inverse`` undoes it."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 0, std, 1.0)  # a constant column stays put instead of dividing by 0
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer.transform called before fit")
        return (np.asarray(x) - self.mean) / self.std

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer.inverse called before fit")
        return np.asarray(z) * self.std + self.mean


def train_test_split(X: np.ndarray, y: np.ndarray, test_fraction: float = 0.25,
                     rng: np.random.Generator | int | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into ``(X_train, X_test, y_train, y_test)``."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
    order = make_rng(rng).permutation(X.shape[0])
    n_test = max(1, round(test_fraction * X.shape[0]))
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]
