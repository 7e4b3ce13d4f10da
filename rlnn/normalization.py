"""Running mean and variance of a stream of arrays, for standardising inputs on the fly.

The statistics are kept in float64 and updated a batch at a time with the parallel form of
Welford's algorithm (Chan, Golub and LeVeque), which gives exactly the mean and the population
variance of everything seen so far, whatever the batch sizes. With ``M = n σ²`` (the sum of
squared deviations) and a batch ``b`` merged into the running ``a``::

    n = n_a + n_b          δ = μ_b − μ_a
    μ = μ_a + δ · n_b / n
    M = M_a + M_b + δ² · n_a n_b / n          σ² = M / n

A batch of one row is Welford's update (``M_b = 0``). Before any update ``μ = 0`` and
``σ² = 1``, so :meth:`RunningMeanStd.normalize` leaves its input as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_finite


class RunningMeanStd:
    """Mean ``μ`` and variance ``σ²`` (both of ``shape``) of every array given to :meth:`update`,
    and their ``count``; ``normalize(x) = (x − μ) / sqrt(σ² + ε)``, optionally clipped."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-8) -> None:
        self.shape = tuple(int(d) for d in shape)
        self.epsilon = float(epsilon)
        self.mean = np.zeros(self.shape, dtype=np.float64)
        self.var = np.ones(self.shape, dtype=np.float64)
        self.count = 0.0

    def update(self, x: Any) -> None:
        """Merge the rows of ``x``: shape ``shape`` (one sample) or ``(n, *shape)`` (``n`` samples)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape == self.shape:
            x = x[None]
        if x.shape[1:] != self.shape or x.ndim != len(self.shape) + 1:
            raise ValueError(f"running statistics of shape {self.shape} take samples of that shape or a batch "
                             f"(n, *{self.shape}), got {x.shape}")
        n_b = x.shape[0]
        if n_b == 0:
            return
        n_a, n = self.count, self.count + n_b
        mean_b = x[0] if n_b == 1 else x.mean(axis=0)      # one row (one env step): M_b = 0, no reductions
        delta = mean_b - self.mean
        m2 = self.var * n_a + delta * delta * (n_a * n_b / n)
        if n_b > 1:
            m2 += x.var(axis=0) * n_b
        self.mean = self.mean + delta * (n_b / n)
        self.var = m2 / n
        self.count = n

    def normalize(self, x: Any, clip: float | None = None, dtype: Any = np.float32) -> np.ndarray:
        """``clip((x − μ) / sqrt(σ² + ε), −clip, clip)`` as ``dtype``; ``x`` of shape ``(..., *shape)``."""
        z = (np.asarray(x, dtype=np.float64) - self.mean) / np.sqrt(self.var + self.epsilon)
        if clip is not None:
            np.clip(z, -clip, clip, out=z)
        return z.astype(dtype, copy=False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of ``mean``, ``var`` (float64, ``shape``) and ``count`` (float64, shape ``()``)."""
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.array(self.count, dtype=np.float64)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_dict`; all or nothing. Refuses (``ValueError``) missing or extra
        entries, other shapes, NaN or infinity, a negative variance and a negative count."""
        if set(state) != {"mean", "var", "count"}:
            raise ValueError(f"running statistics need entries ['count', 'mean', 'var'], "
                             f"got {sorted(map(str, state))[:5]}")
        values = {}
        for key, shape in (("mean", self.shape), ("var", self.shape), ("count", ())):
            arr = np.asarray(state[key])
            if arr.shape != shape or arr.dtype.kind not in "fiu":
                raise ValueError(f"running statistic {key!r} must be real numbers of shape {shape}, "
                                 f"got {arr.dtype} of shape {arr.shape}")
            arr = arr.astype(np.float64)
            check_finite(arr, f"running statistic {key!r}")
            values[key] = arr
        if np.any(values["var"] < 0) or values["count"] < 0:
            raise ValueError("running statistics need a variance and a count of 0 or more")
        self.mean, self.var, self.count = values["mean"], values["var"], float(values["count"])
