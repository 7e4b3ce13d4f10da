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

Speed (a CrossQ update spends about a fifth of its time in these layers): a train-mode pass
keeps ``x − μ_B`` rather than ``z``, folds ``γ``, ``r``, ``d`` and ``1/√(σ_B² + ε)`` into one
scale and one shift per feature, needs only ``Σ g`` and ``Σ g z`` backward, and adds over the
batch with BLAS (:func:`sums`, twice as fast as numpy's sums). That is four elementwise passes
over the batch forward and five backward, two sums each, where the formulas as written take five
passes and two numpy sums forward, seven and four backward. The sums add in another order than
``x.sum(axis=0)``: results match it to float rounding, not bit for bit.

The running statistics and the step count are buffers (``running_mean``, ``running_var``,
``num_batches``): in ``state_dict``, saved and restored with the weights, not in
``parameters()``. A train-mode pass needs at least 2 rows (a variance of one row is 0).
Batch statistics couple the rows of a batch: a network with batch norm in train mode gives a
different result if its batch is split over processes, and running statistics are not
parameters, so memory shared through :func:`~rlnn.module.move_parameters` does not carry them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .checks import float_dtype, layer_size
from .buffer import Buffer
from .feature_layer import FeatureLayer
from .module import Parameter, register_module
from .optim import hyperparameter


@lru_cache(maxsize=64)
def _ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones, kept per length and dtype (a handful of batch sizes)."""
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


def sums(x: np.ndarray, axis: int) -> np.ndarray:
    """``Σ x`` over ``axis`` of a 2-D ``x`` (that axis dropped) as one BLAS matrix-vector product
    with a vector of ones: ``1ᵀ x`` for the columns, ``x 1`` for the rows. Why not ``x.sum``:
    numpy adds a float32 ``(512, 256)`` column by column in 24 µs, BLAS in 12 µs (measured here)."""
    return _ones(x.shape[0], x.dtype) @ x if axis == 0 else x @ _ones(x.shape[1], x.dtype)


def center(x: np.ndarray, axis: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x − μ, μ, σ², 1/√(σ² + ε))`` with ``μ`` and the biased ``σ²`` taken over ``axis``
    (kept as a length-1 axis for LayerNorm's rows, dropped for BatchNorm's columns); ``x − μ``
    is a new array."""
    n = x.shape[axis]
    mean = sums(x, axis)
    mean /= n
    if axis == 1:
        mean = mean[:, None]
    centered = x - mean
    var = sums(np.square(centered), axis)
    var /= n
    if axis == 1:
        var = var[:, None]
    inv_std = var + eps
    np.sqrt(inv_std, out=inv_std)
    np.divide(1.0, inv_std, out=inv_std)
    return centered, mean, var, inv_std


def standardize(x: np.ndarray, axis: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(z, 1/√(σ² + ε), μ, σ²)`` with ``z = (x − μ) / √(σ² + ε)``, ``μ`` and the biased ``σ²``
    taken over ``axis`` (kept as a length-1 axis for LayerNorm's rows, dropped for BatchNorm)."""
    z, mean, var, inv_std = center(x, axis, eps)
    z *= inv_std
    return z, inv_std, mean, var


def standardize_backward(dz: np.ndarray, z: np.ndarray, inv_std: np.ndarray, axis: int) -> np.ndarray:
    """``dL/dx`` of :func:`standardize` from ``dL/dz`` (a new array)::

        dL/dx = (dz − mean dz − z · mean(dz z)) / √(σ² + ε)      means over ``axis``
    """
    n = z.shape[axis]
    keep = (slice(None), None) if axis == 1 else (slice(None),)
    dx = dz * z
    dz_z = sums(dx, axis)[keep]
    dz_z /= n
    np.multiply(z, dz_z, out=dx)
    np.subtract(dz, dx, out=dx)
    dz_mean = sums(dz, axis)[keep]
    dz_mean /= n
    dx -= dz_mean
    dx *= inv_std
    return dx


def _clip(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """``np.clip(x, low, high)`` in place, for ``low <= high``: two ufuncs cost half of
    ``np.clip``'s Python wrapper on a vector of a few hundred (measured 2.6 µs vs 4.4 µs)."""
    np.maximum(x, low, out=x)
    return np.minimum(x, high, out=x)


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

    def _param_grads(self, g_sum: np.ndarray, x_hat_sum: np.ndarray, accumulate: bool) -> None:
        """Store ``dL/dγ = x_hat_sum`` (``Σ_n g x̂``) and ``dL/dβ = g_sum`` (``Σ_n g``)."""
        add_or_write(self.scale.grad, x_hat_sum, accumulate)
        add_or_write(self.shift.grad, g_sum, accumulate)


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

    def _running_affine(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(1/σ, γ/σ, β − μ γ/σ)`` with ``σ = √(σ² + ε)``: eval mode is ``y = x · γ/σ + (β − μ γ/σ)``."""
        inv_std = np.sqrt(self.running_var.value + self.eps)
        np.divide(1.0, inv_std, out=inv_std)
        gain = self.scale.value * inv_std
        return inv_std, gain, self.shift.value - self.running_mean.value * gain

    def _predict(self, x: np.ndarray) -> np.ndarray:
        _, gain, offset = self._running_affine()
        y = x * gain
        y += offset
        return y

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training:
            inv_std, gain, offset = self._running_affine()
            # the input, not z: an actor's dQ/da (param_grads=False) never needs z
            self._cache, self._batch_stats = (x, inv_std, self.running_mean.value.copy(), None), False
            y = x * gain             # the same operations as _predict: equal bit for bit
            y += offset
            return y
        rows = x.shape[0]
        if rows < 2:
            raise ValueError(f"{self._name()} in train mode needs a batch of at least 2 rows to take a variance, "
                             f"got {rows}; use predict() or eval() for single rows")
        centered, mean, var, inv_std = center(x, 0, self.eps)
        gain, offset, r, d = self.scale.value * inv_std, self.shift.value, None, None    # y = γ z + β
        if self.renorm_active:
            # r and d compare the batch with the running statistics before this batch updates them
            run_inv_std = np.sqrt(self.running_var.value + self.eps)
            np.divide(1.0, run_inv_std, out=run_inv_std)
            r = _clip(run_inv_std / inv_std, 1.0 / self.r_max, self.r_max)         # σ_B / σ
            d = _clip((mean - self.running_mean.value) * run_inv_std, -self.d_max, self.d_max)
            gain *= r                                                             # y = γ (r z + d) + β
            offset = offset + self.scale.value * d
        self._update_running(mean, var, rows)
        # Kept: x − μ_B, not z. Scaling it to z would cost a pass over the batch here; backward
        # folds 1/σ_B into per-feature factors instead. Two passes make y = (x − μ_B) γ r/σ_B + (β + γ d).
        self._cache, self._batch_stats = (centered, inv_std, r, d), True
        y = centered * gain
        y += offset
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, rows: int) -> None:
        """``μ ← μ + m (μ_B − μ)``, ``σ² ← σ² + m (σ_B² N/(N−1) − σ²)`` in place, with ``mean``
        and ``var`` (spent after this) as the temporaries."""
        m = self.momentum
        running_mean, running_var = self.running_mean.value, self.running_var.value
        mean -= running_mean
        mean *= m
        running_mean += mean
        var *= rows / (rows - 1)
        var -= running_var
        var *= m
        running_var += var
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
                self._param_grads(sums(g, 0), sums(g * (x - mean), 0) * inv_std, accumulate)
            return g * (self.scale.value * inv_std) if input_grad else None
        if not (param_grads or input_grad):
            return None
        return self._batch_backward(g, saved, inv_std, a, b, param_grads, input_grad, accumulate)

    def _batch_backward(self, g: np.ndarray, centered: np.ndarray, inv_std: np.ndarray, r: np.ndarray | None,
                        d: np.ndarray | None, param_grads: bool, input_grad: bool,
                        accumulate: bool) -> np.ndarray | None:
        """Train-mode backward from the cached ``x − μ_B`` with ``s = 1/√(σ_B² + ε)``,
        ``z = (x − μ_B) s`` and ``r``, ``d`` constants (1 and 0 without renorm): the module
        docstring's formulas with ``dz = γ r g``, from two column sums::

            Σ g      Σ g z = s Σ g (x − μ_B)
            dL/dβ = Σ g      dL/dγ = r Σ g z + d Σ g
            dL/dx = γ r s (g − Σ g / N − (x − μ_B) · s Σ g z / N)

        After the product ``g (x − μ_B)``, four passes over the batch in place on its array,
        which becomes ``dL/dx``.
        """
        work = g * centered
        g_sum = sums(g, 0)
        g_z_sum = sums(work, 0)
        g_z_sum *= inv_std
        if param_grads:
            self._param_grads(g_sum, g_z_sum if r is None else r * g_z_sum + d * g_sum, accumulate)
        if not input_grad:
            return None
        rows = g.shape[0]
        np.multiply(centered, g_z_sum * (inv_std / rows), out=work)
        np.subtract(g, work, out=work)
        work -= g_sum / rows
        gain = self.scale.value * inv_std
        if r is not None:
            gain *= r
        work *= gain
        return work

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
            self._param_grads(sums(g, 0), sums(g * z, 0), accumulate)
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


__all__ = ["NORMS", "BatchNorm", "LayerNorm", "center", "make_norm", "standardize", "standardize_backward", "sums"]
