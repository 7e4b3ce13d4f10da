"""Callbacks: objects the training loop calls at fixed points, in the style of Stable-Baselines3's.

A callback subclasses :class:`Callback` and overrides the hooks it needs::

    on_start(trainer)                     each time run() starts (fresh or resumed)
    on_step(trainer) -> bool | None       after every loop step (n_envs transitions), its update,
                                          evaluation and checkpoint
    on_episode_end(trainer, episode)      after an episode of any sub-env ended and its row was
                                          logged; episode = {"episode", "step", "return",
                                          "length", "env"}
    on_eval(trainer, result) -> ...       after every evaluation (an EvalResult)

A hook that returns ``False``, or calls ``trainer.stop(reason)``, ends the run cleanly at the end of
the current step: the final checkpoint is written as for a finished run and ``run()``'s summary
says why it stopped (``"stopped"``). A callback may also log metrics: it names its ``columns``
and returns their ``values(trainer)``, which are written into every episode row of
``metrics.csv`` (and TensorBoard). Only hooks a callback overrides are called, so an unused hook
costs the loop nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

class Callback:
    """Base class: every hook does nothing; ``columns`` are the metrics :meth:`values` returns."""
    columns: tuple[str, ...] = ()

    def on_start(self, trainer: Any) -> None:
        """Called when ``run()`` starts."""

    def on_step(self, trainer: Any) -> bool | None:
        """Called after every loop step; ``False`` stops the run."""

    def on_episode_end(self, trainer: Any, episode: dict[str, Any]) -> bool | None:
        """Called after every finished episode; ``False`` stops the run."""

    def on_eval(self, trainer: Any, result: Any) -> bool | None:
        """Called after every evaluation; ``False`` stops the run."""

    def values(self, trainer: Any) -> dict[str, float]:
        """This callback's metrics, written into each episode row (keys: :attr:`columns`)."""
        return {}


class StopOnReward(Callback):
    """Stop when an evaluation's mean return reaches ``threshold``."""

    def __init__(self, threshold: float) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or math.isnan(threshold):
            raise ValueError(f"StopOnReward needs a number as its threshold, got {threshold!r}")
        self.threshold = float(threshold)

    def on_eval(self, trainer: Any, result: Any) -> bool | None:
        if result.mean_return >= self.threshold:
            trainer.stop(f"evaluation mean return {result.mean_return:.2f} reached {self.threshold:g} (StopOnReward)")
            return False
        return None


class StopAfterTime(Callback):
    """Stop once ``seconds`` of wall time have passed since ``run()`` started."""

    def __init__(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"StopAfterTime needs a positive number of seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self._deadline = math.inf

    def on_start(self, trainer: Any) -> None:
        self._deadline = time.monotonic() + self.seconds

    def on_step(self, trainer: Any) -> bool | None:
        if time.monotonic() >= self._deadline:
            trainer.stop(f"the wall-time budget of {self.seconds:g} s ran out (StopAfterTime)")
            return False
        return None


class LogMetric(Callback):
    """A custom metric: ``fn(trainer) -> float``, written as column ``name`` of every episode row
    of ``metrics.csv`` (and as a TensorBoard scalar)."""

    def __init__(self, name: str, fn: Callable[[Any], float]) -> None:
        if not isinstance(name, str) or not name or not name.isprintable() or "," in name:
            raise ValueError(f"LogMetric needs a printable name without commas, got {name!r}")
        if not callable(fn):
            raise ValueError(f"LogMetric({name!r}, fn): fn must be a function of the trainer, got {type(fn).__name__}")
        self.name, self.fn = name, fn
        self.columns = (name,)

    def values(self, trainer: Any) -> dict[str, float]:
        return {self.name: float(self.fn(trainer))}


class EvalFunction(Callback):
    """The ``on_eval=fn`` keyword of the trainer: ``fn(trainer, result)`` after each evaluation
    (its return value is ignored, as it always was)."""

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn

    def on_eval(self, trainer: Any, result: Any) -> None:
        self.fn(trainer, result)


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


class Callbacks:
    """The loop's view of its callbacks: for each hook, only those that override it, so that
    ``if callbacks.step:`` is all an unused hook costs. Each ``on_*`` returns True when a
    callback asked to stop. Metric names must differ from each other and from ``taken``."""

    def __init__(self, callbacks: Iterable[Callback], taken: Iterable[str] = ()) -> None:
        self.all = list(callbacks)
        for cb in self.all:
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks must be agents.callbacks.Callback objects, got {type(cb).__name__}")
        self.start = [cb for cb in self.all if _overrides(cb, "on_start")]
        self.step = [cb for cb in self.all if _overrides(cb, "on_step")]
        self.episode_end = [cb for cb in self.all if _overrides(cb, "on_episode_end")]
        self.eval = [cb for cb in self.all if _overrides(cb, "on_eval")]
        self.metric_sources = [cb for cb in self.all if cb.columns]
        self.columns = [name for cb in self.metric_sources for name in cb.columns]
        duplicates = sorted({name for name in self.columns if self.columns.count(name) > 1})
        if duplicates:
            raise ValueError(f"two callbacks log the metric(s) {duplicates}; give each a name of its own")
        clash = sorted(set(self.columns) & set(taken))
        if clash:
            raise ValueError(f"callback metric name(s) {clash} are metrics.csv columns already; choose others")

    def _call(self, trainer: Any, hook: str, callbacks: list[Callback], *args: Any) -> bool:
        stop = False
        for cb in callbacks:
            if getattr(cb, hook)(trainer, *args) is False:
                stop = True
                trainer.stop(f"{type(cb).__name__}.{hook} returned False")   # keeps a reason already given
        return stop

    def on_start(self, trainer: Any) -> None:
        for cb in self.start:
            cb.on_start(trainer)

    def on_step(self, trainer: Any) -> bool:
        return self._call(trainer, "on_step", self.step)

    def on_episode_end(self, trainer: Any, episode: dict[str, Any]) -> bool:
        return self._call(trainer, "on_episode_end", self.episode_end, episode)

    def on_eval(self, trainer: Any, result: Any) -> bool:
        return self._call(trainer, "on_eval", self.eval, result)

    def values(self, trainer: Any) -> dict[str, float]:
        out: dict[str, float] = {}
        for cb in self.metric_sources:
            out.update(cb.values(trainer))
        return out
