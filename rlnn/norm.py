"""Normalization layers (seed 001's empty chapter): batch norm, with the batch renormalization
CrossQ's critic uses, and layer norm. (``rlnn.normalization`` is something else: running
statistics for standardising an agent's observations.)

Both standardise their input and rescale it with a learnable ``scale`` γ (starts at 1) and
``shift`` β (starts at 0), one of each per feature. For ``x`` of shape ``(N, F)``:

**BatchNorm** standardises each feature over the batch (Ioffe & Szegedy 2015)::

    train:  μ_B = mean_n x      σ_B² = mean_n (x − μ_B)²      z = (x − μ_B) / √(σ_B² + ε)
            y = γ z + β
            μ ← μ + m (μ_B − μ)      σ² ← σ² + m (σ_B² N/(N−1) − σ²)      (running statistics)
    eval:   y = γ (x − μ) / √(σ² + ε) + β        (``predict`` always; nothing updated)

``m`` is ``momentum`` in PyTorch's sense, the weight of the new batch (0.1 as in PyTorch;
Flax/JAX's ``momentum=0.99`` is ``m = 0.01``). The running variance is the unbiased one, as
PyTorch keeps it. Back-propagating through the batch statistics, with ``g = dL/dy`` and
``dz = γ g`` (means over the batch)::

    dL/dβ = Σ_n g      dL/dγ = Σ_n g z      dL/dx = (dz − mean dz − z · mean(dz z)) / √(σ_B² + ε)

In eval mode the layer is a fixed affine map: ``dL/dx = γ g / √(σ² + ε)``.

**Batch renormalization** (``renorm=True``; Ioffe 2017) corrects the train-mode output toward
the running statistics once ``warmup_steps`` train-mode batches of plain batch norm have set
them (CrossQ's reference uses 100k)::

    σ = √(σ² + ε)      r = clip(√(σ_B² + ε) / σ, 1/r_max, r_max)      d = clip((μ_B − μ) / σ, −d_max, d_max)
    x̂ = r z + d        y = γ x̂ + β

Unclipped, ``x̂ = (x − μ) / σ``: exactly the eval-mode output, so the function trained is the
one that acts. ``r`` and ``d`` are constants to back-propagation (the paper's stop-gradient),
so the gradients are batch norm's with ``dz = γ r g`` and ``dL/dγ = Σ_n g x̂``. The paper also
relaxes ``r_max`` from 1 and ``d_max`` from 0 gradually; CrossQ's reference (``r_max = 3``,
``d_max = 5``) and this layer switch at the end of the warm-up instead.

**LayerNorm** standardises each row over its ``F`` features (Ba et al. 2016), the same
formulas along the other axis; it has no running statistics and no mode::

    μ_n = mean_j x      σ_n² = mean_j (x − μ_n)²      z = (x − μ_n) / √(σ_n² + ε)      y = γ z + β
    dL/dx = (dz − mean_j dz − z · mean_j(dz z)) / √(σ_n² + ε)

Building a CrossQ critic (batch renorm before every ``Linear``, input included, as CrossQ's
reference places it; one train-mode pass over ``(s, a)`` and ``(s', a')`` together so both
halves share the batch statistics)::

    critic = rlnn.MLP([obs_dim + act_dim, 2048, 2048, 1], norm="batch_renorm", norm_before="linear",
                      norm_kwargs={"momentum": 0.01, "eps": 1e-3, "warmup_steps": 100_000}, rng_or_seed=rng)
    q = critic(np.concatenate([sa, next_sa]))            # train mode: statistics of both halves
    critic.backward(np.concatenate([dq, np.zeros_like(dq)]))   # s' half: no gradient (a target)
    critic.predict(sa)                                   # eval mode (running statistics), nothing cached

The running statistics and the step count are buffers (``running_mean``, ``running_var``,
``num_batches``): in ``state_dict``, saved and restored with the weights, not in
``parameters()``. A train-mode pass needs at least 2 rows (a variance of one row is 0).
Batch statistics couple the rows of a batch: a network with batch norm in train mode gives a
different result if its batch is split over processes, and running statistics are not
parameters, so memory shared through :func:`~rlnn.module.move_parameters` does not carry them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import float_dtype, layer_size
from .buffer import Buffer
from .feature_layer import FeatureLayer
from .module import Parameter, register_module
from .optim import hyperparameter


def standardize(x: np.ndarray, axis: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(z, 1/√(σ² + ε), μ, σ²)`` with ``z = (x − μ) / √(σ² + ε)``, ``μ`` and the biased ``σ²``
    taken over ``axis`` (kept as a length-1 axis for LayerNorm's rows, dropped for BatchNorm)."""
    keep = axis == 1
    mean = x.mean(axis=axis, keepdims=keep)
    z = x - mean
    var = np.mean(z * z, axis=axis, keepdims=keep)
    inv_std = np.sqrt(var + eps)
    np.divide(1.0, inv_std, out=inv_std)
    z *= inv_std
    return z, inv_std, mean, var


def standardize_backward(dz: np.ndarray, z: np.ndarray, inv_std: np.ndarray, axis: int) -> np.ndarray:
    """``dL/dx`` of :func:`standardize` from ``dL/dz`` (a new array)::

        dL/dx = (dz − mean dz − z · mean(dz z)) / √(σ² + ε)      means over ``axis``
    """
    dx = dz - dz.mean(axis=axis, keepdims=True)
    dx -= z * np.mean(dz * z, axis=axis, keepdims=True)
    dx *= inv_std
    return dx



def add_or_write(grad: np.ndarray, value: np.ndarray, accumulate: bool) -> None:
    """``grad += value`` (``accumulate``) or ``grad[...] = value``: how ``backward`` stores a
    parameter gradient."""
    if accumulate:
        grad += value
    else:
        np.copyto(grad, value)

class _Affine(FeatureLayer):
    """The learnable per-feature ``y = γ x̂ + β`` both layers end with, and their checks."""

    def _setup(self, features: int, eps: float, dtype: Any) -> None:
        kind = type(self).__name__
        self.features = layer_size(features, f"{kind} features")
        self.dtype = float_dtype(dtype, kind)
        self.eps = hyperparameter(eps, f"{kind} eps", 0.0, low_open=True)
        self.scale = Parameter(np.ones(self.features, dtype=self.dtype))    # γ
        self.shift = Parameter(np.zeros(self.features, dtype=self.dtype))   # β
        self._cache: tuple | None = None

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("scale", self.scale), ("shift", self.shift)]

    def _param_grads(self, g: np.ndarray, x_hat_sum: np.ndarray, accumulate: bool) -> None:
        """Store ``dL/dγ = x_hat_sum`` (``Σ_n g x̂``) and ``dL/dβ = Σ_n g``."""
        add_or_write(self.scale.grad, x_hat_sum, accumulate)
        add_or_write(self.shift.grad, g.sum(axis=0), accumulate)


@register_module
class BatchNorm(_Affine):
    """Batch normalization of ``(N, features)`` inputs, optionally batch renormalization
    (``renorm=True``): see the module docstring for the formulas.

    ``momentum`` is the weight of each new batch in the running statistics (PyTorch's
    convention), ``eps`` is added to the variances; ``r_max``, ``d_max`` and ``warmup_steps``
    only matter with ``renorm``. CrossQ's values: ``momentum=0.01, eps=1e-3, warmup_steps=100_000``.
    Buffers: ``running_mean``, ``running_var`` (``features``,) and ``num_batches`` (the number of
    train-mode passes so far, which the warm-up counts).
    """

    def __init__(self, features: int, *, momentum: float = 0.1, eps: float = 1e-5, renorm: bool = False,
                 r_max: float = 3.0, d_max: float = 5.0, warmup_steps: int = 100_000, dtype: Any = np.float32) -> None:
        self._setup(features, eps, dtype)
        self.momentum = hyperparameter(momentum, "BatchNorm momentum", 0.0, 1.0)
        if not isinstance(renorm, (bool, np.bool_)):
            raise TypeError(f"BatchNorm renorm must be True or False, got {renorm!r}")
        self.renorm = bool(renorm)
        self.r_max = hyperparameter(r_max, "BatchNorm r_max", 1.0)
        self.d_max = hyperparameter(d_max, "BatchNorm d_max", 0.0)
        if isinstance(warmup_steps, (bool, np.bool_)) or not isinstance(warmup_steps, (int, np.integer)) \
                or warmup_steps < 0:
            raise ValueError(f"BatchNorm warmup_steps must be a whole number of steps >= 0, got {warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)
        self.running_mean = Buffer(np.zeros(self.features, dtype=self.dtype))
        self.running_var = Buffer(np.ones(self.features, dtype=self.dtype), low=0)
        self.num_batches = Buffer(np.zeros((), dtype=np.int64), low=0)

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return [("running_mean", self.running_mean), ("running_var", self.running_var),
                ("num_batches", self.num_batches)]

    @property
    def renorm_active(self) -> bool:
        """Whether the next train-mode pass renormalizes (``renorm`` and the warm-up is over)."""
        return self.renorm and int(self.num_batches.value) >= self.warmup_steps

    def _running_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(1/σ, β − μ γ/σ)`` with ``σ = √(σ² + ε)``: eval mode is ``y = x · γ/σ + that``."""
        inv_std = np.sqrt(self.running_var.value + self.eps)
        np.divide(1.0, inv_std, out=inv_std)
        return inv_std, self.shift.value - self.running_mean.value * (self.scale.value * inv_std)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        inv_std, offset = self._running_affine()
        y = x * (self.scale.value * inv_std)
        y += offset
        return y

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training:
            inv_std, offset = self._running_affine()
            # the input, not z: an actor's dQ/da (param_grads=False) never needs z
            self._cache, self._batch_stats = (x, inv_std, self.running_mean.value.copy(), None), False
            y = x * (self.scale.value * inv_std)     # the same operations as _predict: equal bit for bit
            y += offset
            return y
        rows = x.shape[0]
        if rows < 2:
            raise ValueError(f"{self._name()} in train mode needs a batch of at least 2 rows to take a variance, "
                             f"got {rows}; use predict() or eval() for single rows")
        z, inv_std, mean, var = standardize(x, 0, self.eps)
        scale, offset, r, d = self.scale.value, self.shift.value, None, None
        if self.renorm_active:
            # r and d compare the batch with the running statistics before this batch updates them
            run_inv_std = np.sqrt(self.running_var.value + self.eps)
            np.divide(1.0, run_inv_std, out=run_inv_std)
            r = np.clip(run_inv_std / inv_std, 1.0 / self.r_max, self.r_max)       # σ_B / σ
            d = np.clip((mean - self.running_mean.value) * run_inv_std, -self.d_max, self.d_max)
            scale, offset = scale * r, offset + scale * d
        self._update_running(mean, var, rows)
        self._cache, self._batch_stats = (z, inv_std, r, d), True
        y = z * scale
        y += offset
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, rows: int) -> None:
        m = self.momentum
        running_mean, running_var = self.running_mean.value, self.running_var.value
        running_mean += m * (mean - running_mean)
        running_var += m * (var * (rows / (rows - 1)) - running_var)
        self.num_batches.value += 1

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True, accumulate: bool = True) -> np.ndarray | None:
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        saved, inv_std, a, b = self._cache
        g = self._grad_in(grad_out, saved.shape[0])
        if not self._batch_stats:      # eval mode: y = γ (x − μ)/σ + β, a fixed affine map
            x, mean = saved, a
            if param_grads:
                self._param_grads(g, np.sum(g * ((x - mean) * inv_std), axis=0), accumulate)
            return g * (self.scale.value * inv_std) if input_grad else None
        z, r, d = saved, a, b
        if param_grads:
            gz = np.sum(g * z, axis=0)
            self._param_grads(g, gz if r is None else r * gz + d * g.sum(axis=0), accumulate)   # Σ g (r z + d)
        if not input_grad:
            return None
        dz = g * (self.scale.value if r is None else self.scale.value * r)
        return standardize_backward(dz, z, inv_std, 0)

    def config(self) -> dict[str, Any]:
        return {"type": "BatchNorm", "features": self.features, "momentum": self.momentum, "eps": self.eps,
                "renorm": self.renorm, "r_max": self.r_max, "d_max": self.d_max,
                "warmup_steps": self.warmup_steps, "dtype": self.dtype.name}


@register_module
class LayerNorm(_Affine):
    """Layer normalization of ``(N, features)`` inputs: each row standardised over its features,
    then ``γ z + β`` (see the module docstring). The same in train and eval mode."""

    def __init__(self, features: int, *, eps: float = 1e-5, dtype: Any = np.float32) -> None:
        self._setup(features, eps, dtype)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self._output(standardize(x, 1, self.eps)[0])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        z, inv_std, _, _ = standardize(x, 1, self.eps)
        self._cache = (z, inv_std)
        return self._output(z)

    def _output(self, z: np.ndarray) -> np.ndarray:
        y = z * self.scale.value
        y += self.shift.value
        return y

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True, accumulate: bool = True) -> np.ndarray | None:
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        z, inv_std = self._cache
        g = self._grad_in(grad_out, z.shape[0])
        if param_grads:
            self._param_grads(g, np.sum(g * z, axis=0), accumulate)
        return standardize_backward(g * self.scale.value, z, inv_std, 1) if input_grad else None

    def config(self) -> dict[str, Any]:
        return {"type": "LayerNorm", "features": self.features, "eps": self.eps, "dtype": self.dtype.name}


# name -> (class, fixed arguments, the options a user may set)
NORMS: dict[str, tuple[type[_Affine], dict[str, Any], tuple[str, ...]]] = {
    "batch": (BatchNorm, {"renorm": False}, ("momentum", "eps")),
    "batch_renorm": (BatchNorm, {"renorm": True}, ("momentum", "eps", "r_max", "d_max", "warmup_steps")),
    "layer": (LayerNorm, {}, ("eps",)),
}


def make_norm(name: str, features: int, dtype: Any, options: dict[str, Any] | None = None) -> _Affine:
    """The normalization layer ``name`` (a key of :data:`NORMS`) of width ``features``; ``options``
    are its keyword arguments (``momentum``, ``eps``, ...), checked by name."""
    if name not in NORMS:
        raise ValueError(f"unknown norm {name!r}; choose from {sorted(NORMS)} or None")
    cls, fixed, allowed = NORMS[name]
    options = dict(options or {})
    unknown = sorted(map(str, set(options) - set(allowed)))
    if unknown:
        raise ValueError(f"norm {name!r} takes the options {list(allowed)}, not {unknown}")
    return cls(features, dtype=dtype, **fixed, **options)


__all__ = ["NORMS", "BatchNorm", "LayerNorm", "make_norm", "standardize", "standardize_backward"]
