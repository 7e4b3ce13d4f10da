"""``agent.total_steps``: the length of the run that an agent's schedules count against.

DQN's ε decays over ``exploration_fraction × total_steps`` env steps, and the "linear"
learning-rate schedule of every agent falls to 0 at ``total_steps``. An agent does not know how
long its user will train it, so the value starts unset (``None``) unless the constructor is given
``total_steps=N``; the training loop sets it to the run's length. A custom loop that forgets it
must not get a schedule computed against a made-up length (an ε that falls to its final value
after the first step), so reading it while unset is a one-line ``ValueError`` naming the
setting, whenever a schedule of the agent's config depends on it. Reading it while unset with
no such schedule gives ``None``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from .safety import shown

# (what depends on total_steps, whether the agent's config uses it); every agent has this one.
LINEAR_LEARNING_RATE = ("the 'linear' learning_rate_schedule", lambda c: c.learning_rate_schedule == "linear")


class RunLength:
    """The ``total_steps`` attribute (a descriptor): a positive whole number of env steps or
    ``None``, stored in ``agent._total_steps`` (which checkpoints read, to save it unset too).

    ``uses`` lists ``(description, depends(config))`` pairs beyond the learning-rate schedule."""

    def __init__(self, *uses: tuple[str, Callable[[Any], bool]]) -> None:
        self.uses = (LINEAR_LEARNING_RATE, *uses)

    def __get__(self, agent: Any, owner: type | None = None) -> Any:
        if agent is None:
            return self
        value = agent._total_steps
        if value is None:
            needing = [what for what, depends in self.uses if depends(agent.config)]
            if needing:
                name = type(agent).__name__
                raise ValueError(f"{name}.total_steps is not set, and {' and '.join(needing)} counts against it: "
                                 f"pass {name}(..., total_steps=N) or set agent.total_steps = N (the env steps "
                                 "of the whole run) before exploring")
        return value

    def __set__(self, agent: Any, value: Any) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"total_steps must be a positive whole number of env steps or None, "
                                 f"got {shown(value)}")
            value = int(value)
        agent._total_steps = value
