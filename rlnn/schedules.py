"""Schedules: a value as a function of the step count ``t`` (learning rates, exploration).

Every schedule is a callable ``schedule(t) -> float`` and JSON-describable by ``config()``.
An optimiser accepts one in place of a constant learning rate and evaluates it at each step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def _checked(schedule: Any) -> None:
    """Refuse a schedule whose numbers are not finite or whose step counts are not positive
    integers: a NaN learning rate or a zero ``every`` would surface only mid-training."""
    for name, value in asdict(schedule).items():
        if name in ("duration", "every"):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{type(schedule).__name__} {name} must be a positive integer, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value):
            raise ValueError(f"{type(schedule).__name__} {name} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class Constant:
    value: float

    def __post_init__(self) -> None:
        _checked(self)

    def __call__(self, t: int) -> float:
        return self.value


@dataclass(frozen=True)
class Linear:
    """``start`` at ``t = 0``, moving linearly to ``end`` at ``t = duration``, then constant."""
    start: float
    end: float
    duration: int

    def __post_init__(self) -> None:
        _checked(self)

    def __call__(self, t: int) -> float:
        if t >= self.duration:
            return self.end  # exactly, not start + 1.0 * (end - start) with its rounding
        frac = max(t / self.duration, 0.0)
        return self.start + frac * (self.end - self.start)


@dataclass(frozen=True)
class Exponential:
    """``start * decay ** t``, never below ``minimum``."""
    start: float
    decay: float
    minimum: float = 0.0

    def __post_init__(self) -> None:
        _checked(self)

    def __call__(self, t: int) -> float:
        return max(self.start * self.decay ** t, self.minimum)


@dataclass(frozen=True)
class StepDecay:
    """``start * factor ** (t // every)``."""
    start: float
    factor: float
    every: int

    def __post_init__(self) -> None:
        _checked(self)

    def __call__(self, t: int) -> float:
        return self.start * self.factor ** (t // self.every)


@dataclass(frozen=True)
class Cosine:
    """Half a cosine from ``start`` to ``end`` over ``duration`` steps."""
    start: float
    end: float
    duration: int

    def __post_init__(self) -> None:
        _checked(self)

    def __call__(self, t: int) -> float:
        frac = min(max(t / max(self.duration, 1), 0.0), 1.0)
        return self.end + 0.5 * (self.start - self.end) * (1.0 + math.cos(math.pi * frac))


_KINDS = {cls.__name__: cls for cls in (Constant, Linear, Exponential, StepDecay, Cosine)}
Schedule = Constant | Linear | Exponential | StepDecay | Cosine


def schedule_config(schedule: Schedule) -> dict[str, Any]:
    return {"type": type(schedule).__name__, **asdict(schedule)}


def schedule_from_config(config: dict[str, Any] | float) -> Callable[[int], float]:
    """A schedule from a number (constant) or a ``{"type": ..., ...}`` dictionary."""
    if isinstance(config, (int, float)) and not isinstance(config, bool):
        return Constant(float(config))
    kind = config.get("type") if isinstance(config, dict) else None
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ValueError(f"unknown schedule {config!r}; types: {sorted(_KINDS)}")
    try:
        return _KINDS[kind](**{k: v for k, v in config.items() if k != "type"})
    except TypeError as exc:       # a missing or unknown field
        raise ValueError(f"schedule {kind}: {exc}") from None
