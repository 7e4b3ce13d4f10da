"""Optimisers (seed 001's chapter, seed 002's Adam) and target-network helpers.

Every optimiser takes ``net.parameters()`` and updates them in place on ``step()``, reading
``.grad``. With ``g = dL/dθ`` (plus ``weight_decay * θ`` when weight decay is on), ``η`` the
learning rate and ``t`` the step count:

=============  ===================================================================
SGD            θ ← θ − η g
Momentum       v ← α v − η g ;  θ ← θ + v           (Nesterov: θ ← θ + α v − η g)
AdaGrad        h ← h + g ⊙ g ;  θ ← θ − η g / (√h + ε)
RMSProp        h ← ρ h + (1 − ρ) g ⊙ g ;  θ ← θ − η g / (√h + ε)
Adam           m ← β1 m + (1 − β1) g ;  v ← β2 v + (1 − β2) g ⊙ g
               θ ← θ − η m̂ / (√v̂ + ε),  m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)
               (kept as M = m / (1 − β1), V = v / (1 − β2): M ← β1 M + g, V ← β2 V + g ⊙ g)
=============  ===================================================================

State is kept per parameter object. Parameters that a module packed into one buffer are
updated as one flat vector, so a step costs a few numpy calls whatever the depth; nothing is
allocated per step (scratch arrays are made once).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .checks import cast_parameter
from .module import Parameter, contiguous_spans
from .schedules import Constant

LearningRate = float | Callable[[int], float]


def hyperparameter(value: Any, name: str, low: float = 0.0, high: float = math.inf, *,
                   low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float in the given interval (closed unless ``*_open``), else one clear
    error: a ``TypeError`` for a non-number (a string or a bool is never read as one), a
    ``ValueError`` for NaN, infinity or a value out of range, as PyTorch's optimisers refuse them.
    A silently accepted ``lr=nan`` or ``weight_decay=-1`` would train to the end on garbage."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    x = float(value)
    if not math.isfinite(x) or x < low or x > high or (low_open and x == low) or (high_open and x == high):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
        raise ValueError(f"{name} must be finite and lie in {interval}, got {value!r}")
    return x


def _learning_rate(lr: Any) -> LearningRate:
    """A positive finite number, or a schedule (any callable of the step count)."""
    if callable(lr):
        return lr
    return hyperparameter(lr, "learning rate lr", 0.0, low_open=True)


class Optimizer:
    """Base class. A subclass names its state arrays in ``state_names`` and writes ``_update``."""

    state_names: tuple[str, ...] = ()
    nonnegative_state: tuple[str, ...] = ()   # state arrays that are sums of squares

    def __init__(self, params: Iterable[Parameter], lr: LearningRate, weight_decay: float = 0.0) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer expects rlnn.Parameter objects, got {type(p).__name__}")
        if len(set(map(id, self.params))) != len(self.params):
            raise ValueError("optimizer got the same parameter twice")
        self.lr = _learning_rate(lr)
        self.weight_decay = hyperparameter(weight_decay, "weight_decay")
        self.t = 0
        self.state: dict[Parameter, dict[str, np.ndarray]] = {}
        self.rebind()

    def rebind(self, allocate: Callable[[int, np.dtype], np.ndarray] | None = None) -> None:
        """Re-read where the parameters live (after :func:`rlnn.module.move_parameters`),
        keeping the optimiser's state; ``allocate(size, dtype)`` (zeroed 1-D arrays, e.g. in
        shared memory) places the new state arrays. Called once by the constructor."""
        old_state = self.state
        self._spans = []
        self._parts: dict[tuple[int, int], list[tuple]] = {}    # update_part's slices, made once per split
        self.state = {}
        for value, grad, members in contiguous_spans(self.params):
            span_state = {name: np.zeros_like(value) if allocate is None else allocate(value.shape[0], value.dtype)
                          for name in self.state_names}
            scratch = (np.empty_like(value), np.empty_like(value))
            self._spans.append((value, grad, span_state, scratch))
            offset = 0
            for p in members:
                self.state[p] = {name: arr[offset:offset + p.size].reshape(p.shape) for name, arr in span_state.items()}
                for name, arr in old_state.get(p, {}).items():
                    self.state[p][name][...] = arr
                offset += p.size

    @property
    def lr(self) -> LearningRate:
        """The learning rate: a number, or a schedule of the step count. Assigning one later (a
        decay the caller drives) may reach 0 but never goes negative or non-finite."""
        return self._lr

    @lr.setter
    def lr(self, value: LearningRate) -> None:
        self._lr = value if callable(value) else hyperparameter(value, "learning rate lr")

    def current_lr(self) -> float:
        """The learning rate the next ``step()`` uses (a schedule is evaluated at ``t``; one that
        returns a negative or non-finite rate is an error, not a silent divergence)."""
        if not callable(self.lr):
            return float(self.lr)
        lr = self.lr(self.t)
        if not (isinstance(lr, (int, float, np.integer, np.floating)) and 0.0 <= lr < math.inf):
            raise ValueError(f"the learning-rate schedule returned {lr!r} at step {self.t}; "
                             "it must return a finite number >= 0")
        return float(lr)

    def step(self, grad_scale: float = 1.0) -> None:
        """One update, reading ``grad_scale · grad`` (a clip's scale, :func:`clip_scale`, applied
        in the pass that reads the gradient instead of one of its own)."""
        self.update_part(0, 1, self.advance(), grad_scale)

    def advance(self) -> float:
        """Count one step and return its learning rate, without updating anything: the first
        half of :meth:`step`, for callers that update the parameters in parts (:meth:`update_part`)."""
        lr = self.current_lr()
        self.t += 1
        return lr

    def update_part(self, part: int, parts: int, lr: float, grad_scale: float = 1.0) -> None:
        """The update of step ``self.t`` (see :meth:`advance`) for slice ``part`` of ``parts``
        equal slices of every packed parameter vector, reading ``grad_scale · grad``. Different
        parts touch disjoint memory, so two processes may update two parts at once."""
        spans = self._spans if parts == 1 else self._parts.get((part, parts)) or self._slice_spans(part, parts)
        for value, grad, state, (tmp, tmp2) in spans:
            if grad_scale != 1.0:     # a clipped gradient (rare): one more pass
                np.multiply(grad, grad_scale, out=tmp2)
                grad = tmp2
            if self.weight_decay:
                if grad is tmp2:
                    np.multiply(value, self.weight_decay, out=tmp)   # tmp is free until _update
                    tmp2 += tmp
                else:
                    np.multiply(value, self.weight_decay, out=tmp2)
                    tmp2 += grad
                grad = tmp2
            self._update(value, grad, state, lr, tmp)

    def _slice_spans(self, part: int, parts: int) -> list[tuple]:
        """The spans cut to slice ``part`` of ``parts`` (views, kept for the next step)."""
        sliced = []
        for value, grad, state, (tmp, tmp2) in self._spans:
            s = part_slice(value.shape[0], part, parts)
            sliced.append((value[s], grad[s], {name: arr[s] for name, arr in state.items()}, (tmp[s], tmp2[s])))
        self._parts[(part, parts)] = sliced
        return sliced

    def _update(self, value: np.ndarray, grad: np.ndarray, state: dict[str, np.ndarray],
                lr: float, tmp: np.ndarray) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        for _, grad, _, _ in self._spans:
            grad.fill(0)

    def state_dict(self) -> dict[str, Any]:
        """``{"t": int, "state": {"<index>.<name>": array}}``, index = position in ``params``."""
        arrays = {f"{i}.{name}": arr.copy() for i, p in enumerate(self.params)
                  for name, arr in self.state[p].items()}
        return {"t": self.t, "state": arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output. All or nothing: the step count and every array
        (names, shapes, real finite values, non-negative where a sum of squares is kept) are
        checked before anything changes."""
        if not isinstance(state, dict) or not isinstance(state.get("state"), dict) or "t" not in state:
            raise ValueError("optimizer state must be a dict with 't' and 'state' entries")
        t = state["t"]
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) or not 0 <= t <= _MAX_STEPS:
            raise ValueError(f"optimizer step count must be an integer in [0, {_MAX_STEPS}], got {t!r}")
        arrays = state["state"]
        expected = {f"{i}.{name}" for i, p in enumerate(self.params) for name in self.state[p]}
        if set(arrays) != expected:
            raise ValueError(f"optimizer state does not match: expected keys {sorted(expected)}, "
                             f"got {sorted(map(str, arrays))[:20]}")
        values = []
        for i, p in enumerate(self.params):
            for name, arr in self.state[p].items():
                key = f"{i}.{name}"
                src = np.asarray(arrays[key])
                if src.shape != arr.shape:
                    raise ValueError(f"optimizer state {key} has shape {src.shape}, expected {arr.shape}")
                src = cast_parameter(src, arr.dtype, f"optimizer state {key}")
                if name in self.nonnegative_state and (src < 0).any():
                    raise ValueError(f"optimizer state {key} holds negative values; it is a sum of squares")
                values.append((arr, src))
        for arr, src in values:
            np.copyto(arr, src)
        self.t = int(t)


_MAX_STEPS = 2**62   # a step count beyond this is a corrupt file (and would overflow β^t)


class SGD(Optimizer):
    def __init__(self, params: Iterable[Parameter], lr: LearningRate = 0.01, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)

    def _update(self, value, grad, state, lr, tmp):
        np.multiply(grad, lr, out=tmp)
        value -= tmp


class Momentum(Optimizer):
    state_names = ("velocity",)

    def __init__(self, params: Iterable[Parameter], lr: LearningRate = 0.01, momentum: float = 0.9,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = hyperparameter(momentum, "momentum", 0.0, 1.0, high_open=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("Nesterov momentum needs momentum > 0")

    def _update(self, value, grad, state, lr, tmp):
        v = state["velocity"]
        np.multiply(grad, lr, out=tmp)
        v *= self.momentum
        v -= tmp                                  # v ← α v − η g
        if self.nesterov:                         # θ ← θ + α v − η g  (look ahead along v)
            value -= tmp
            np.multiply(v, self.momentum, out=tmp)
            value += tmp
        else:                                     # θ ← θ + v
            value += v


class AdaGrad(Optimizer):
    state_names = ("sum_sq",)
    nonnegative_state = ("sum_sq",)

    def __init__(self, params: Iterable[Parameter], lr: LearningRate = 0.01, eps: float = 1e-7,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.eps = hyperparameter(eps, "eps")

    def _update(self, value, grad, state, lr, tmp):
        h = state["sum_sq"]
        np.multiply(grad, grad, out=tmp)
        h += tmp                                  # h ← h + g ⊙ g
        np.sqrt(h, out=tmp)
        tmp += self.eps
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        value -= tmp                              # θ ← θ − η g / (√h + ε)


class RMSProp(Optimizer):
    state_names = ("mean_sq",)
    nonnegative_state = ("mean_sq",)

    def __init__(self, params: Iterable[Parameter], lr: LearningRate = 0.001, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.alpha = hyperparameter(alpha, "RMSProp alpha", 0.0, 1.0, high_open=True)
        self.eps = hyperparameter(eps, "eps")

    def _update(self, value, grad, state, lr, tmp):
        h = state["mean_sq"]
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - self.alpha
        h *= self.alpha
        h += tmp                                  # h ← ρ h + (1 − ρ) g ⊙ g
        np.sqrt(h, out=tmp)
        tmp += self.eps
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        value -= tmp


class Adam(Optimizer):
    """Adam with bias correction. ``eps`` is added to ``√v̂`` (seed 002's notebook does the same).
    ``weight_decay`` is L2 added to the gradient; ``decoupled=True`` makes it AdamW's
    ``θ ← θ − η λ θ`` applied beside the Adam step instead."""

    # The moments are kept undivided by (1 − β): M = m / (1 − β1) and V = v / (1 − β2), the
    # exponentially discounted sums of g and g². Their updates M ← β1 M + g, V ← β2 V + g² need no
    # scaling pass and the constants move into the step's scalar: 10 passes over the parameters
    # per step instead of 12. Saved as they are (an exact round trip).
    state_names = ("exp_sum", "exp_sum_sq")
    nonnegative_state = ("exp_sum_sq",)

    def __init__(self, params: Iterable[Parameter], lr: LearningRate = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False) -> None:
        weight_decay = hyperparameter(weight_decay, "weight_decay")
        super().__init__(params, lr, 0.0 if decoupled else weight_decay)
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"Adam betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.beta1 = hyperparameter(beta1, "Adam beta1", 0.0, 1.0, high_open=True)
        self.beta2 = hyperparameter(beta2, "Adam beta2", 0.0, 1.0, high_open=True)
        self.eps = hyperparameter(eps, "eps")
        self.decoupled_weight_decay = weight_decay if decoupled else 0.0

    def _update(self, value, grad, state, lr, tmp):
        big_m, big_v = state["exp_sum"], state["exp_sum_sq"]
        b1, b2 = self.beta1, self.beta2
        if self.decoupled_weight_decay:
            value *= 1.0 - lr * self.decoupled_weight_decay
        big_m *= b1
        big_m += grad                             # M ← β1 M + g
        np.multiply(grad, grad, out=tmp)
        big_v *= b2
        big_v += tmp                              # V ← β2 V + g²
        # self.t was already incremented: this is step t of the bias correction. With
        # k = √((1 − β2) / (1 − β2^t)):  m̂ / (√v̂ + ε) = (1 − β1) / ((1 − β1^t) k) · M / (√V + ε / k)
        k = math.sqrt((1.0 - b2) / (1.0 - b2 ** self.t))
        np.sqrt(big_v, out=tmp)
        tmp += self.eps / k
        np.divide(big_m, tmp, out=tmp)
        tmp *= lr * (1.0 - b1) / ((1.0 - b1 ** self.t) * k)
        value -= tmp                              # θ ← θ − η m̂ / (√v̂ + ε)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "rmsprop": RMSProp, "adam": Adam}


# -- helpers used around an optimiser step -----------------------------------------------------

def part_slice(size: int, part: int, parts: int) -> slice:
    """Slice ``part`` of ``parts`` near-equal slices of ``range(size)`` (as :meth:`Optimizer.update_part`
    cuts), each cut at a multiple of 16 elements: two processes stepping their parts of one
    vector then never straddle a 64-byte cache line (measured here: a DQN half cut mid-line took
    66 µs per Adam step in place of 49 µs for the other half)."""
    def cut(k: int) -> int:
        return size if k == parts else size * k // parts // 16 * 16
    return slice(cut(part), cut(part + 1))


def global_grad_norm(params: Iterable[Parameter]) -> float:
    """``sqrt(sum over parameters of ||grad||^2)``."""
    total = 0.0
    for _, grad, _ in contiguous_spans(list(params)):
        total += float(np.vdot(grad, grad))
    return math.sqrt(total)


def clip_grad_norm(params: Iterable[Parameter], max_norm: float) -> float:
    """Scale all gradients by ``min(1, max_norm / ||g||)`` where ``||g||`` is the global norm
    over every parameter; returns ``||g||`` before clipping."""
    max_norm = hyperparameter(max_norm, "max_norm", 0.0, low_open=True)
    spans = contiguous_spans(list(params))
    norm = math.sqrt(sum(float(np.vdot(grad, grad)) for _, grad, _ in spans))
    scale = clip_scale(norm, max_norm)
    if scale != 1.0:
        for _, grad, _ in spans:
            grad *= scale
    return norm


def clip_scale(norm: float, max_norm: float) -> float:
    """The factor :func:`clip_grad_norm` scales a gradient of global norm ``norm`` by:
    ``max_norm / ||g||`` above the bound, 1 below (also for a caller that computes the norm
    itself, such as processes that each hold a slice of the gradient)."""
    return max_norm / (norm + 1e-12) if 0 < max_norm < norm else 1.0


def polyak_update(target: Iterable[Parameter], source: Iterable[Parameter], tau: float) -> None:
    """Soft target update ``θ_target ← (1 − τ) θ_target + τ θ_source``, in place.
    ``tau = 1`` is a hard copy. Both lists must match in shapes, in order."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"polyak_update: tau must lie in [0, 1], got {tau}")
    target, source = list(target), list(source)
    if len(target) != len(source):
        raise ValueError(f"polyak_update: {len(target)} target parameters but {len(source)} source parameters")
    t_spans, s_spans = contiguous_spans(target), contiguous_spans(source)
    if [v.shape for v, _, _ in t_spans] != [v.shape for v, _, _ in s_spans]:
        t_spans = [(p.value.reshape(-1), None, [p]) for p in target]
        s_spans = [(p.value.reshape(-1), None, [p]) for p in source]
        for (tv, _, (tp,)), (sv, _, (sp,)) in zip(t_spans, s_spans):
            if tv.shape != sv.shape:
                raise ValueError(f"polyak_update: shape mismatch {tp.shape} vs {sp.shape}")
    for (tv, _, _), (sv, _, _) in zip(t_spans, s_spans):
        polyak_arrays(tv, sv, tau)


def polyak_arrays(target: np.ndarray, source: np.ndarray, tau: float) -> None:
    """``target ← (1 − τ) target + τ source`` in place, on arrays of one shape (a slice of a
    packed parameter vector, say: two processes can each move one half)."""
    if tau >= 1.0:
        np.copyto(target, source)
    elif tau > 0.0:
        # (1 − τ) θt + τ θs written as (θt − θs)(1 − τ) + θs: three in-place passes, no temporary.
        target -= source
        target *= 1.0 - tau
        target += source


def hard_update(target: Iterable[Parameter], source: Iterable[Parameter]) -> None:
    """Copy the source values into the target parameters."""
    polyak_update(target, source, 1.0)


__all__ = ["OPTIMIZERS", "SGD", "AdaGrad", "Adam", "Constant", "Momentum", "Optimizer", "RMSProp",
           "clip_grad_norm", "clip_scale", "global_grad_norm", "hard_update", "polyak_arrays", "polyak_update"]
