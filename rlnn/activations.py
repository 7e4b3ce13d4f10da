"""Activation functions as parameter-free layers (seeds 000, 001, 002).

Each caches its output (or input) in ``forward`` and multiplies the incoming gradient by the
local derivative in ``backward``:

===============  ==================================  =====================================
layer            y = f(x)                            dy/dx
===============  ==================================  =====================================
``Identity``     x                                   1
``Step``         1 if x > 0 else 0                   0 almost everywhere (no backward)
``Sigmoid``      1 / (1 + e^-x)                      y (1 - y)          (at most 0.25)
``Tanh``         tanh x                              1 - y^2
``ReLU``         max(x, 0)                           1 if x > 0 else 0
``LeakyReLU``    x if x > 0 else a x                 1 if x > 0 else a
``Softmax``      e^x_i / sum_j e^x_j  (per row)      y_i (delta_ij - y_j)
===============  ==================================  =====================================

Without a non-linearity between them, stacked linear layers collapse to one linear map
``x W1 W2 = x (W1 W2)``: that is why every hidden layer is followed by one of these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .module import Module, register_module


class Activation(Module):
    """A stateless element-wise layer; subclasses write ``forward`` and ``_local_grad``."""

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True) -> np.ndarray | None:
        return self._local_grad(grad_out) if input_grad else None

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@register_module
class Identity(Activation):
    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out


@register_module
class Step(Activation):
    """The perceptron's threshold. Its derivative is zero wherever it exists, so it cannot be
    trained by back-propagation: train with ``Sigmoid`` and threshold afterwards."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        return (x > 0).astype(x.dtype)

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        raise RuntimeError("Step has no useful gradient (zero almost everywhere); "
                           "use Sigmoid or Tanh in a network you train by backpropagation")


@register_module
class Sigmoid(Activation):
    def forward(self, x: np.ndarray) -> np.ndarray:
        # 1/(1+e^-x) == (1 + tanh(x/2)) / 2, which never overflows for large |x|.
        y = np.tanh(x * 0.5)
        y *= 0.5
        y += 0.5
        self._y = y
        return y

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        return grad_out * y * (1.0 - y)


@register_module
class Tanh(Activation):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        return grad_out * (1.0 - y * y)


@register_module
class ReLU(Activation):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._y = np.maximum(x, 0)
        return self._y

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self._y > 0, grad_out, 0).astype(grad_out.dtype, copy=False)


@register_module
class LeakyReLU(Activation):
    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._positive = x > 0
        return np.where(self._positive, x, x * self.negative_slope).astype(x.dtype, copy=False)

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        return np.where(self._positive, grad_out, grad_out * self.negative_slope).astype(grad_out.dtype, copy=False)

    def config(self) -> dict[str, Any]:
        return {"type": "LeakyReLU", "negative_slope": self.negative_slope}


@register_module
class Softmax(Activation):
    """Row-wise softmax over the last axis, computed as ``exp(x - max x)`` so it never overflows."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        z = x - x.max(axis=-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=-1, keepdims=True)
        self._y = z
        return z

    def _local_grad(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._y
        return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, type[Activation]] = {
    "identity": Identity,
    "linear": Identity,
    "step": Step,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
}


def get_activation(name: str) -> Activation:
    """A fresh activation layer by name (see ``ACTIVATIONS``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
