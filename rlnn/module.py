"""Parameters and the module protocol every layer follows.

A :class:`Parameter` owns a value array and a gradient array of the same shape. A
:class:`Module` maps an input batch ``x`` of shape ``(N, in)`` to an output ``(N, out)``:

* ``forward(x)`` (or ``module(x)``) computes the output and caches what ``backward`` needs,
  overwriting the cache of the previous call;
* ``backward(grad_out)`` takes ``dL/dy`` of shape ``(N, out)``, *adds* ``dL/dθ`` into every
  parameter's ``.grad`` and returns ``dL/dx`` of shape ``(N, in)``.

Modules that hold several parameters pack them into one contiguous buffer (see
:func:`pack_parameters`), so an optimiser, ``zero_grad`` or a Polyak update touches the whole
network with a handful of numpy calls instead of a Python loop over arrays;
:func:`pack_together` does the same for several modules at once (an agent's networks as one
optimiser vector).

Some layers also keep a :class:`Buffer`: an array that is state but not trained (batch norm's
running mean and variance and its step count, dropout's generator state). ``state_dict`` and
``load_state_dict`` carry buffers beside the parameters under the same dotted names, so
``rlnn.save``/``rlnn.load`` and agent checkpoints restore them exactly; ``parameters()`` never
lists them, so no optimiser steps them and packing leaves them alone.

Every module has a ``training`` flag, set for it and everything inside it by ``train()`` (the
default mode) and ``eval()``, both returning the module. Only layers whose output depends on it
read it (:class:`~rlnn.norm.BatchNorm`, :class:`~rlnn.dropout.Dropout`); ``predict`` always
behaves as in eval mode and never changes a buffer.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .buffer import Buffer, cast_buffer
from .checks import cast_parameter


class Parameter:
    """A trainable array with its gradient.

    ``value`` and ``grad`` are live arrays: write into them (``p.value[...] = w``) or assign
    (``p.value = w``, which copies into the existing storage). Their storage never moves
    except when a module packs its parameters, so optimisers may hold views of it.
    """

    __slots__ = ("_buffer", "_grad", "_offset", "_value")

    def __init__(self, value: np.ndarray) -> None:
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"Parameter needs a floating-point array, got dtype {value.dtype}")
        self._value = np.array(value, copy=True)
        self._grad = np.zeros_like(self._value)
        # (flat value buffer, flat grad buffer) and this parameter's offset in them, once packed.
        self._buffer: tuple[np.ndarray, np.ndarray] | None = None
        self._offset = 0

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new: np.ndarray) -> None:
        _copy_into(self._value, new, "value")

    @property
    def grad(self) -> np.ndarray:
        return self._grad

    @grad.setter
    def grad(self, new: np.ndarray) -> None:
        _copy_into(self._grad, new, "grad")

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


def _copy_into(dst: np.ndarray, src: Any, what: str) -> None:
    src = np.asarray(src)
    if src.shape != dst.shape:
        raise ValueError(f"cannot assign a {what} of shape {src.shape} to a parameter of shape {dst.shape}")
    if what == "value":   # a parameter loaded from outside: refuse what would silently poison training
        src = cast_parameter(src, dst.dtype, "the assigned value")
    np.copyto(dst, src, casting="same_kind")


def pack_parameters(params: list[Parameter]) -> tuple[np.ndarray, np.ndarray] | None:
    """Move ``params`` into one contiguous value buffer and one grad buffer, in order.

    Afterwards each ``p.value`` / ``p.grad`` is a reshaped view of a slice of the buffers.
    Returns ``(flat_value, flat_grad)``, or ``None`` when the parameters have mixed dtypes or
    are already packed elsewhere (shared with another module): then they are left alone.
    """
    params = list(dict.fromkeys(params))  # drop repeats (a tied weight), keep order
    if not params or len({p.dtype for p in params}) != 1 or any(p._buffer is not None for p in params):
        return None
    total = sum(p.size for p in params)
    flat_value = np.empty(total, dtype=params[0].dtype)
    flat_grad = np.zeros(total, dtype=params[0].dtype)
    buffers = (flat_value, flat_grad)
    offset = 0
    for p in params:
        n = p.size
        flat_value[offset:offset + n] = p._value.ravel()
        flat_grad[offset:offset + n] = p._grad.ravel()
        p._value = flat_value[offset:offset + n].reshape(p.shape)
        p._grad = flat_grad[offset:offset + n].reshape(p.shape)
        p._buffer = buffers
        p._offset = offset
        offset += n
    return buffers


def move_parameters(module: Module, flat_value: np.ndarray, flat_grad: np.ndarray) -> None:
    """Pack every parameter of ``module`` into the given 1-D buffers (e.g. memory shared with
    another process), in order, copying the current values and gradients in.

    Afterwards the parameters, and every packed container inside ``module``, use the new
    buffers; the old storage is dropped. An optimiser built on these parameters before must
    follow with :meth:`rlnn.optim.Optimizer.rebind`. Moving onto the buffers the parameters
    already use only re-points what differs (a process can give its copy of a network gradient
    buffers of its own this way, the values staying shared).
    """
    params = list(dict.fromkeys(module.parameters()))
    total = sum(p.size for p in params)
    dtypes = {p.dtype for p in params}
    for name, buf in (("value", flat_value), ("grad", flat_grad)):
        if buf.ndim != 1 or buf.shape[0] != total or {buf.dtype} != dtypes:
            raise ValueError(f"move_parameters: the {name} buffer must be 1-D with {total} elements of dtype "
                             f"{', '.join(sorted(d.name for d in dtypes))}, got shape {buf.shape} and dtype {buf.dtype}")
    buffers = (flat_value, flat_grad)
    offset = 0
    for p in params:
        n = p.size
        new_value = flat_value[offset:offset + n].reshape(p.shape)
        new_grad = flat_grad[offset:offset + n].reshape(p.shape)
        if not np.shares_memory(new_value, p._value):
            new_value[...] = p._value
        if not np.shares_memory(new_grad, p._grad):
            new_grad[...] = p._grad
        p._value, p._grad, p._buffer, p._offset = new_value, new_grad, buffers, offset
        offset += n
    for sub in _submodules(module):
        sub._parameters_moved()


def _submodules(module: Module) -> list[Module]:
    """``module`` and every module inside it (attributes that are modules or lists of modules)."""
    found = [module]
    for value in vars(module).values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, Module):
                found.extend(_submodules(child))
    return found


def contiguous_spans(params: list[Parameter]) -> list[tuple[np.ndarray, np.ndarray, list[Parameter]]]:
    """Group ``params`` into runs that are consecutive slices of one packed buffer.

    Returns ``[(value_view, grad_view, members), ...]`` covering every parameter once, in order;
    an unpacked parameter forms a run of its own (with its arrays flattened).
    """
    spans: list[tuple[np.ndarray, np.ndarray, list[Parameter]]] = []
    start = end = 0
    run: list[Parameter] = []

    def close() -> None:
        if not run:
            return
        if run[0]._buffer is None:
            p = run[0]
            spans.append((p._value.reshape(-1), p._grad.reshape(-1), [p]))
        else:
            flat_value, flat_grad = run[0]._buffer
            spans.append((flat_value[start:end], flat_grad[start:end], list(run)))

    for p in params:
        if run and p._buffer is not None and p._buffer is run[0]._buffer and p._offset == end:
            run.append(p)
            end += p.size
            continue
        close()
        run = [p]
        start, end = p._offset, p._offset + p.size
    close()
    return spans


# -- the module protocol ---------------------------------------------------------------------

_MODULE_TYPES: dict[str, type[Module]] = {}


def register_module(cls: type[Module]) -> type[Module]:
    """Class decorator: lets :func:`module_from_config` rebuild ``cls`` from its ``config()``."""
    _MODULE_TYPES[cls.__name__] = cls
    return cls


def module_from_config(config: dict[str, Any]) -> Module:
    """Rebuild a module (with fresh weights) from the dictionary its ``config()`` returned."""
    if not isinstance(config, dict) or "type" not in config:
        raise ValueError(f"a module config must be a dict with a 'type' entry, got {config!r}")
    kind = config["type"]
    if kind not in _MODULE_TYPES:
        raise ValueError(f"unknown module type {kind!r}; known: {sorted(_MODULE_TYPES)}")
    return _MODULE_TYPES[kind].from_config(config)


class Module:
    """Base class: a differentiable map with named parameters (and buffers, for layers with state)."""

    training = True   # train mode until train(False) / eval(); see train()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output for ``x`` in eval mode, without touching the forward cache or any buffer
        (acting, evaluation): a ``backward`` afterwards still differentiates the last
        ``forward``. Modules whose ``forward`` caches something override this; the default is a
        ``forward`` on a replica put in eval mode (this module's mode is left as it is)."""
        return self.replica().eval().forward(x)

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True,
                 input_grad: bool = True, accumulate: bool = True) -> np.ndarray | None:
        """Back-propagate ``dL/dy``. ``param_grads=False`` leaves every ``.grad`` untouched
        (an actor update pulling ``dQ/da`` out of a critic); ``input_grad=False`` skips the
        product that only the caller would need and returns ``None``. Parameter gradients are
        added to ``.grad``; ``accumulate=False`` writes them over it instead, the same as
        ``zero_grad()`` then ``backward`` with two passes over the gradients fewer (the fill
        and the add)."""
        raise NotImplementedError

    def train(self, mode: bool = True) -> Module:
        """Put this module and every module inside it in train mode (``mode=False``: eval mode);
        returns ``self``, so ``net.eval()(x)`` reads as it does in PyTorch.

        In train mode batch norm normalises with the batch's statistics and updates its running
        ones, and dropout drops units; in eval mode batch norm uses its running statistics and
        dropout passes its input through. Every other layer ignores the flag."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train(mode) takes True or False, got {mode!r}; use eval() for eval mode")
        for module in _submodules(self):
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``: running statistics, no dropout, no buffer changes; returns ``self``."""
        return self.train(False)

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self) -> list[tuple[str, Buffer]]:
        """The module's non-trainable state, named as :meth:`named_parameters` names parameters.
        A container lists its layers' buffers with the same prefixes as their parameters."""
        return []

    def buffers(self) -> list[Buffer]:
        return [b for _, b in self.named_buffers()]

    def zero_grad(self) -> None:
        for grad_view, _ in _grad_spans(self.parameters()):
            grad_view.fill(0)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter value and every buffer, keyed by dotted name
        (``"0.weight"``, ``"1.running_mean"``)."""
        state = {name: p.value.copy() for name, p in self.named_parameters()}
        state.update((name, b.value.copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy values in; every name must be present with the right shape, and no extras.

        All or nothing: every entry is checked (shape, a real dtype, finite, representable in the
        parameter's dtype; a buffer's integers integral and in range, nothing below its least
        value) before anything changes, so a bad file never leaves a half-loaded network."""
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict takes a mapping of names to arrays, got {type(state).__name__}")
        named = dict(self.named_parameters())
        buffers = dict(self.named_buffers())
        expected = set(named) | set(buffers)
        missing = sorted(expected - set(state))
        unexpected = sorted(map(str, set(state) - expected))
        if missing or unexpected:
            raise ValueError(f"state dict does not match the module: missing {missing}, unexpected {unexpected[:10]}"
                             + (f" and {len(unexpected) - 10} more" if len(unexpected) > 10 else ""))
        values = [cast_parameter(_entry(state, name, p.shape), p.dtype, f"state dict entry {name!r}")
                  for name, p in named.items()]
        buffer_values = [cast_buffer(_entry(state, name, b.shape), b, f"state dict entry {name!r}")
                         for name, b in buffers.items()]
        for p, value in zip(named.values(), values):
            np.copyto(p.value, value)
        for b, value in zip(buffers.values(), buffer_values):
            np.copyto(b.value, value)

    def config(self) -> dict[str, Any]:
        """A JSON-able description from which :func:`module_from_config` rebuilds the module."""
        return {"type": type(self).__name__}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        kwargs = {k: v for k, v in config.items() if k != "type"}
        return cls(**kwargs)

    def replica(self) -> Module:
        """A module that shares this one's parameters (the same ``value`` and ``grad`` arrays)
        and buffers but keeps its own forward cache and mode, so two forward passes of one
        network can be in flight at once (e.g. on two threads) and each be back-propagated.
        The modules inside (attributes that are modules or lists of modules) are replicated in
        turn. (Two train-mode passes at once would both update a shared batch norm's running
        statistics: run those one after the other.)"""
        twin = _copy.copy(self)
        made: dict[int, Module] = {}     # a module held under two names stays one module

        def twin_of(child: Module) -> Module:
            if id(child) not in made:
                made[id(child)] = child.replica()
            return made[id(child)]

        for name, value in vars(self).items():
            if isinstance(value, Module):
                setattr(twin, name, twin_of(value))
            elif isinstance(value, list) and any(isinstance(v, Module) for v in value):
                setattr(twin, name, [twin_of(v) if isinstance(v, Module) else v for v in value])
        return twin

    def _parameters_moved(self) -> None:
        """Called by :func:`move_parameters` after this module's parameters changed storage;
        a module that keeps views of its packed buffers refreshes them here."""

    def copy(self) -> Module:
        """An independent module of the same architecture, weights, buffers and mode (gradients
        zeroed)."""
        clone = module_from_config(self.config())
        clone.load_state_dict(self.state_dict())
        for mine, theirs in zip(_submodules(self), _submodules(clone)):
            theirs.training = mine.training
        return clone


def _entry(state: Mapping[str, Any], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """``state[name]`` as an array of ``shape``, or a ``ValueError`` naming the entry."""
    try:
        arr = np.asarray(state[name])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"state dict entry {name!r} is not an array: {exc}") from None
    if arr.shape != shape:
        raise ValueError(f"state dict entry {name!r} has shape {arr.shape}, the module expects {shape}")
    return arr


def _grad_spans(params: Iterable[Parameter]) -> list[tuple[np.ndarray, list[Parameter]]]:
    return [(g, members) for _, g, members in contiguous_spans(list(params))]


# -- one buffer for several modules ---------------------------------------------------------

class _Group(Module):
    """Modules side by side (no forward): what :func:`pack_together` moves as one."""

    def __init__(self, modules: list[Module]) -> None:
        self.modules = modules

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, m in enumerate(self.modules) for name, p in m.named_parameters()]


def pack_together(modules: list[Module]) -> list[np.ndarray]:
    """Move the parameters of ``modules`` (one dtype) into one value and one gradient buffer,
    in order, so that an optimiser steps them all as one vector: a few numpy calls per step
    instead of a few per network. Returns the gradient cut into the runs the parameters were
    packed in before (:func:`contiguous_spans`), so that a global norm summed over them, one
    float32 dot each, is the one :func:`~rlnn.optim.clip_grad_norm` computed on the networks'
    own buffers: the same clipping to the last bit."""
    params = [p for m in modules for p in m.parameters()]
    runs = [len(grad) for _, grad, _ in contiguous_spans(params)]
    total = sum(runs)
    grad = np.zeros(total, params[0].dtype)
    move_parameters(_Group(modules), np.empty(total, params[0].dtype), grad)
    return np.split(grad, np.cumsum(runs)[:-1])
