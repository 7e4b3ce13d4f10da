"""The base of the layers that map a batch ``(N, F)`` to ``(N, F)``: normalization and dropout."""

from __future__ import annotations

import numpy as np

from .checks import as_batch, as_float_array
from .module import Module


class FeatureLayer(Module):
    """Base of the layers that map a batch ``(N, F)`` to ``(N, F)`` of the same dtype:
    :class:`~rlnn.norm.BatchNorm`, :class:`~rlnn.norm.LayerNorm`, :class:`~rlnn.dropout.Dropout`.

    A subclass writes ``_forward(x)`` and ``_predict(x)`` for an input already checked, and
    ``backward``. ``forward``/``predict`` check their input as entry points (shape, dtype,
    finite: :func:`~rlnn.checks.as_batch`); inside a :class:`~rlnn.layers.Sequential` the
    layer runs on what the layer before produced, as a ``Linear`` does.
    """

    features: int | None = None      # the width F; None: any (Dropout)
    dtype: np.dtype | None = None    # None: the input's
    _fresh = True                    # forward's output and backward's input gradient are new arrays

    def _name(self) -> str:
        return f"{type(self).__name__}({self.features if self.features is not None else ''})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(as_batch(x, self.features, self.dtype, self))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The eval-mode output, with nothing cached and no buffer changed."""
        return self._predict(as_batch(x, self.features, self.dtype, self))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _accept(self, x: np.ndarray) -> np.ndarray:
        """The output of the layer before, as this layer's input: shape and dtype checked, not
        the values (see :meth:`rlnn.layers.Linear._accept`)."""
        if self.features is not None and (x.ndim != 2 or x.shape[1] != self.features):
            raise ValueError(f"{self._name()} inside a Sequential expects its input of shape "
                             f"(batch, {self.features}), got {x.shape} from the layer before")
        if self.dtype is not None and x.dtype != self.dtype:
            x = as_float_array(x, self.dtype, f"{self._name()} input")
        return x

    def _grad_in(self, grad_out: np.ndarray, rows: int) -> np.ndarray:
        """``backward``'s ``grad_out`` checked against the last forward's output shape."""
        if type(grad_out) is not np.ndarray:
            grad_out = as_float_array(grad_out, self.dtype or np.float64, f"{self._name()}.backward gradient")
        if grad_out.ndim != 2 or grad_out.shape[0] != rows or (self.features is not None
                                                                and grad_out.shape[1] != self.features):
            raise ValueError(f"{self._name()}.backward expects a gradient of shape "
                             f"({rows}, {self.features if self.features is not None else 'F'}), got {grad_out.shape}")
        return grad_out
