"""The fully-connected layer and the containers that stack layers (seeds 000-004).

A ``Linear`` layer computes, for a batch ``x`` of shape ``(N, in)``::

    y = x @ W + b                      W: (in, out), b: (out,)

and back-propagates ``g = dL/dy`` of shape ``(N, out)`` by the chain rule::

    dL/dW = x.T @ g       dL/db = sum_n g[n]       dL/dx = g @ W.T

The bias is the seeds' "always-1 input" kept as a separate vector, so ``x`` need not be padded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from .activations import ACTIVATIONS, Activation, get_activation
from .init import default_initializer, get_initializer, make_rng
from .checks import as_batch, as_float_array, check_finite, float_dtype, layer_size
from .dropout import Dropout
from .buffer import Buffer
from .feature_layer import FeatureLayer
from .module import Module, Parameter, pack_parameters, register_module
from .norm import NORMS, make_norm
from .optim import hyperparameter


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays. An inner dimension of 1 is an outer product, which numpy's
    matmul computes ~5x slower than a broadcast multiply (measured here: (256, 1) @ (1, 300)
    110 µs vs 26 µs); it happens in every backward through a critic's 1-unit output layer."""
    if a.shape[1] == 1:
        return np.multiply(a, b)
    return a @ b


@register_module
class Linear(Module):
    """Affine map ``y = x @ W + b`` with ``W`` of shape ``(in_features, out_features)``."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 init: str = "xavier_uniform", rng_or_seed: np.random.Generator | int | None = None,
                 dtype: Any = np.float32) -> None:
        self.in_features = layer_size(in_features, "Linear in_features")
        self.out_features = layer_size(out_features, "Linear out_features")
        self.dtype = float_dtype(dtype, "Linear")
        rng = make_rng(rng_or_seed)
        self.weight = Parameter(get_initializer(init)((self.in_features, self.out_features), rng, self.dtype))
        self.bias = Parameter(np.zeros(self.out_features, dtype=self.dtype)) if bias else None
        self._x: np.ndarray | None = None

    def _name(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(as_batch(x, self.in_features, self.dtype, self))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """``forward`` for an input already checked (by this layer or the container around it)."""
        self._x = x
        y = _matmul(x, self.weight.value)
        if self.bias is not None:
            y += self.bias.value
        return y

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``x @ W + b`` with nothing cached."""
        return self._predict(as_batch(x, self.in_features, self.dtype, self))

    def _predict(self, x: np.ndarray) -> np.ndarray:
        y = _matmul(x, self.weight.value)
        if self.bias is not None:
            y += self.bias.value
        return y

    def _accept(self, x: np.ndarray) -> np.ndarray:
        """The output of the layer before it, as this layer's input: the shape and dtype checks of
        :func:`as_batch` (a container of mismatched layers gets a clear error), not the pass
        over the values, which the container's own input check already made."""
        if x.ndim != 2 or x.shape[1] != self.in_features or x.dtype != self.dtype:
            if x.ndim != 2 or x.shape[1] != self.in_features:
                raise ValueError(f"{self._name()} inside a Sequential expects its input of shape "
                                 f"(batch, {self.in_features}), got {x.shape} from the layer before")
            x = as_float_array(x, self.dtype, f"{self._name()} input")
        return x

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True, accumulate: bool = True) -> np.ndarray | None:
        if self._x is None:
            raise RuntimeError("Linear.backward called before forward")
        if type(grad_out) is not np.ndarray:
            grad_out = as_float_array(grad_out, self.dtype, f"{self._name()}.backward gradient")
        if grad_out.shape != (self._x.shape[0], self.out_features):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}).backward expects a gradient of "
                             f"shape {(self._x.shape[0], self.out_features)}, got {grad_out.shape}")
        if param_grads:
            # Through a local name: `self.weight.grad += ...` would also call the property's
            # setter, which copies the array onto itself.
            weight_grad = self.weight.grad
            if accumulate:
                weight_grad += self._x.T @ grad_out
            else:   # written in place: no temporary, no extra pass
                np.matmul(self._x.T, grad_out, out=weight_grad)
            if self.bias is not None:   # the ufunc's reduce: np.sum's result without its wrapper's cost
                bias_grad = self.bias.grad
                if accumulate:
                    bias_grad += np.add.reduce(grad_out, axis=0)
                else:
                    np.add.reduce(grad_out, axis=0, out=bias_grad)
        return _matmul(grad_out, self.weight.value.T) if input_grad else None

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        named = [("weight", self.weight)]
        if self.bias is not None:
            named.append(("bias", self.bias))
        return named

    def config(self) -> dict[str, Any]:
        return {"type": "Linear", "in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": self.dtype.name}


@register_module
class Sequential(Module):
    """Layers applied in order; ``backward`` runs them in reverse.

    The parameters of all layers are packed into one contiguous buffer at construction, so
    ``zero_grad`` is one ``fill`` and optimisers update the network as one flat vector.

    ``forward`` and ``predict`` check their input once (shape, dtype, NaN or inf: see
    :func:`~rlnn.checks.as_batch`); the layers inside then run unchecked on what the layer
    before produced. Set ``check_finite = True`` to have ``backward`` reject NaN or infinite
    gradients too (off by default: it costs a pass over the gradient).

    Speed: an activation that directly follows a ``Linear`` works in place on that layer's
    fresh output (and, going back, on its fresh input gradient), saving an allocation and a
    pass over memory per layer; arrays the caller passed in are never modified.
    """

    _check_layers = True   # check each Linear's input shape and dtype (any stack); an MLP's fit by construction

    def __init__(self, *layers: Module) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for layer in layers:
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential takes Module instances, got {type(layer).__name__}")
        self.layers = list(layers)
        self.check_finite = False
        self._flat = pack_parameters(self.parameters())

    def _name(self) -> str:
        return f"Sequential of {len(self.layers)} layers"

    def _input_spec(self) -> tuple[int | None, np.dtype | None]:
        """The input width and dtype the first layer with parameters needs (``None`` if unknown)."""
        for layer in self.layers:
            if type(layer) is Linear:
                return layer.in_features, layer.dtype
            if isinstance(layer, Sequential):
                return layer._input_spec()
            if isinstance(layer, FeatureLayer) and layer.features is not None:
                return layer.features, layer.dtype
            if not isinstance(layer, (Activation, FeatureLayer)):
                break
        return None, None

    def _accept(self, x: np.ndarray) -> np.ndarray:
        """This stack's input inside an outer one: the shape and dtype checks of :func:`as_batch`
        without the pass over the values (see :meth:`Linear._accept`)."""
        width, dtype = self._input_spec()
        if width is not None and (x.ndim != 2 or x.shape[1] != width):
            raise ValueError(f"{self._name()} inside a Sequential expects its input of shape (batch, {width}), "
                             f"got {x.shape} from the layer before")
        return x if dtype is None or x.dtype == dtype else as_float_array(x, dtype, f"{self._name()} input")

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(as_batch(x, *self._input_spec(), self))

    def _forward(self, x: np.ndarray) -> np.ndarray:
        owned = False  # is x a fresh temporary of ours (a Linear's output) that may be overwritten?
        for layer in self.layers:
            kind = type(layer)
            if kind is Linear:
                x = layer._forward(layer._accept(x) if self._check_layers else x)
                owned = True
                continue
            if isinstance(layer, Activation):
                x = layer._forward(x, x if owned else None)
            elif isinstance(layer, FeatureLayer):   # norm, dropout: a new output unless passed through
                x = layer._forward(layer._accept(x) if self._check_layers else x)
                owned = layer._fresh
                continue
            elif isinstance(layer, Sequential):
                x = layer._forward(layer._accept(x))
            else:
                x = layer.forward(x)
            owned = False
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network's output with no forward cache written (acting, evaluation). For a few
        rows the per-layer caching of ``forward`` is most of the cost."""
        return self._predict(as_batch(x, *self._input_spec(), self))

    def _predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            if type(layer) is Linear:
                x = layer._predict(layer._accept(x) if self._check_layers else x)
            elif isinstance(layer, Activation):
                x = layer._predict(x)
            elif isinstance(layer, Sequential):
                x = layer._predict(layer._accept(x))
            elif isinstance(layer, FeatureLayer):
                x = layer._predict(layer._accept(x) if self._check_layers else x)
            else:
                x = layer.predict(x)
        return x

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True, accumulate: bool = True) -> np.ndarray | None:
        if type(grad_out) is not np.ndarray:
            grad_out = as_float_array(grad_out, self._input_spec()[1] or np.float64, "gradient passed to backward")
        if self.check_finite:
            check_finite(grad_out, "gradient passed to backward")
        g = grad_out
        owned = False  # is g a fresh temporary (a Linear's input gradient) that may be overwritten?
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            if owned and isinstance(layer, Activation):
                g = layer._local_grad(g, g)
            elif type(layer) is Linear:   # what _layer_backward does for it, one call fewer
                g = layer.backward(g, param_grads=param_grads, input_grad=input_grad or i > 0, accumulate=accumulate)
            else:
                g = _layer_backward(layer, g, param_grads, input_grad or i > 0, accumulate)
            owned = type(layer) is Linear or (isinstance(layer, FeatureLayer) and layer._fresh)
        return g

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        return [(f"{i}.{name}", b) for i, layer in enumerate(self.layers)
                for name, b in layer.named_buffers()]

    def zero_grad(self) -> None:
        if self._flat is not None:
            self._flat[1].fill(0)
        else:
            super().zero_grad()

    def _parameters_moved(self) -> None:
        if self._flat is None:
            return
        params = self.parameters()
        flat_value, flat_grad = params[0]._buffer
        start, end = params[0]._offset, params[-1]._offset + params[-1].size
        self._flat = (flat_value[start:end], flat_grad[start:end])

    def config(self) -> dict[str, Any]:
        return {"type": "Sequential", "layers": [layer.config() for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        from .module import module_from_config
        return cls(*[module_from_config(c) for c in config["layers"]])

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]


def _layer_backward(layer: Module, grad_out: np.ndarray, param_grads: bool, input_grad: bool,
                    accumulate: bool) -> np.ndarray | None:
    """``layer.backward``, passing ``accumulate=False`` on to the layers known to take it; any
    other layer (a user's own module) has its gradients zeroed and then added to, as before."""
    if accumulate or not param_grads:
        return layer.backward(grad_out, param_grads=param_grads, input_grad=input_grad)
    if isinstance(layer, (Linear, Sequential, Activation, FeatureLayer)):
        return layer.backward(grad_out, param_grads=True, input_grad=input_grad, accumulate=False)
    layer.zero_grad()
    return layer.backward(grad_out, param_grads=True, input_grad=input_grad)


@register_module
class MLP(Sequential):
    """A multi-layer perceptron of any depth, optionally with normalization and dropout.

    ``MLP([4, 64, 64, 2])`` is ``Linear(4,64) → act → Linear(64,64) → act → Linear(64,2) → out``
    where ``act`` is ``activation`` and ``out`` is ``output_activation`` (omitted when identity).
    ``init=None`` picks He for ReLU-family activations and Xavier otherwise; biases start at 0.

    ``norm`` (``"batch"``, ``"batch_renorm"``, ``"layer"``; see :mod:`rlnn.norm`) adds a
    normalization layer, with ``norm_kwargs`` as its options (``momentum``, ``eps``,
    ``warmup_steps``, ...), at one of two places:

    * ``norm_before="activation"``: after each hidden ``Linear`` (Ioffe & Szegedy's place),
      ``Linear → norm → act → ... → Linear``;
    * ``norm_before="linear"``: before every ``Linear``, the input included, ``norm → Linear →
      act → norm → Linear``: CrossQ's critic and actor (``norm="batch_renorm"``).

    ``dropout=p`` adds :class:`~rlnn.dropout.Dropout` right after each hidden ``Linear``
    (before its norm, as DroQ places it; with a ReLU-family activation and no norm that equals
    dropping after the activation). The weights are drawn first, so a seed gives the same
    initial weights with or without these layers; each dropout layer's seed is drawn from the
    same generator after them. With the defaults (``norm=None, dropout=0``) the network, its
    config and its results are exactly those of an MLP without these options.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", output_activation: str = "identity",
                 init: str | None = None, rng_or_seed: np.random.Generator | int | None = None,
                 dtype: Any = np.float32, *, norm: str | None = None, norm_before: str = "activation",
                 norm_kwargs: dict[str, Any] | None = None, dropout: float = 0.0) -> None:
        if isinstance(sizes, (str, bytes, dict)) or not isinstance(sizes, Iterable):
            raise TypeError(f"MLP sizes must be a list of positive integers, got {sizes!r}")
        given = list(sizes)
        if len(given) < 2:
            raise ValueError(f"MLP needs at least an input and an output size; got {given}")
        sizes = [layer_size(s, f"MLP size {i} of {given}") for i, s in enumerate(given)]
        self.sizes, self.activation, self.output_activation = sizes, activation, output_activation
        self.dtype = float_dtype(dtype, "MLP")
        for name in (activation, output_activation):
            if not isinstance(name, str) or name not in ACTIVATIONS:  # checked even when unused: a typo never passes
                raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
        self.norm, self.norm_before, self.norm_kwargs = _norm_options(norm, norm_before, norm_kwargs)
        self.dropout = hyperparameter(dropout, "MLP dropout", 0.0, 1.0, high_open=True)
        rng = make_rng(rng_or_seed)
        init = init or default_initializer(activation)
        linears = [Linear(n_in, n_out, init=init, rng_or_seed=rng, dtype=self.dtype) for n_in, n_out in pairwise(sizes)]
        hidden = len(linears) - 1
        seeds = iter(rng.integers(0, 2 ** 63, size=hidden).tolist() if self.dropout else [])
        layers: list[Module] = []
        for i, linear in enumerate(linears):
            if self.norm and self.norm_before == "linear":
                layers.append(make_norm(self.norm, linear.in_features, self.dtype, self.norm_kwargs))
            layers.append(linear)
            if i < hidden:
                if self.dropout:
                    layers.append(Dropout(self.dropout, seed=next(seeds)))
                if self.norm and self.norm_before == "activation":
                    layers.append(make_norm(self.norm, linear.out_features, self.dtype, self.norm_kwargs))
                layers.append(get_activation(activation))
        if output_activation not in ("identity", "linear"):
            layers.append(get_activation(output_activation))
        super().__init__(*layers)

    _check_layers = False

    def _name(self) -> str:
        return f"MLP{tuple(self.sizes)}"

    def _input_spec(self) -> tuple[int | None, np.dtype | None]:
        return self.sizes[0], self.dtype

    @property
    def linears(self) -> list[Linear]:
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def config(self) -> dict[str, Any]:
        config = {"type": "MLP", "sizes": list(self.sizes), "activation": self.activation,
                  "output_activation": self.output_activation, "dtype": self.dtype.name}
        if self.norm:      # only what differs from a plain MLP, whose config stays as it always was
            config.update(norm=self.norm, norm_before=self.norm_before)
            if self.norm_kwargs:
                config["norm_kwargs"] = dict(self.norm_kwargs)
        if self.dropout:
            config["dropout"] = self.dropout
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MLP:
        return cls(config["sizes"], activation=config.get("activation", "relu"),
                   output_activation=config.get("output_activation", "identity"),
                   dtype=config.get("dtype", "float32"), rng_or_seed=0, norm=config.get("norm"),
                   norm_before=config.get("norm_before", "activation"), norm_kwargs=config.get("norm_kwargs"),
                   dropout=config.get("dropout", 0.0))


def _norm_options(norm: Any, before: Any, options: Any) -> tuple[str | None, str, dict[str, Any] | None]:
    """MLP's ``norm``, ``norm_before`` and ``norm_kwargs``, checked (the options by the layer)."""
    if norm is not None and (not isinstance(norm, str) or norm not in NORMS):
        raise ValueError(f"unknown MLP norm {norm!r}; choose from {sorted(NORMS)} or None")
    if before not in ("activation", "linear"):
        raise ValueError(f"MLP norm_before must be 'activation' or 'linear', got {before!r}")
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"MLP norm_kwargs must be a dict of the norm layer's options, got {options!r}")
    if options and norm is None:
        raise ValueError(f"MLP norm_kwargs {options!r} given without a norm; pass norm='batch', 'batch_renorm' "
                         "or 'layer'")
    return norm, before, (dict(options) if options else None)
