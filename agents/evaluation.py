"""Evaluating a policy: deterministic actions over whole episodes on separately seeded envs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

# Evaluation episodes use seeds from here upwards; training draws its episode seeds below it,
# so the two never share a start state.
EVAL_SEED_OFFSET = 2**31


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    infos: list[dict[str, float | bool]] = field(default_factory=list)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.returns))

    def info_means(self) -> dict[str, float]:
        keys = sorted({k for info in self.infos for k in info})
        return {k: float(np.mean([float(info[k]) for info in self.infos if k in info])) for k in keys}

    def to_json(self) -> dict[str, Any]:
        return {"mean_return": self.mean_return, "std_return": self.std_return, **asdict(self),
                "info_means": self.info_means()}


def scalar_info(info: dict[str, Any]) -> dict[str, float | bool]:
    """The numeric and boolean entries of an ``info`` dict (what a results table can show)."""
    out: dict[str, float | bool] = {}
    for key, value in info.items():
        if isinstance(value, (bool, np.bool_)):
            out[key] = bool(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and not key.startswith("_"):
            out[key] = float(value)
    return out


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def evaluate(policy: Callable[[np.ndarray], Any], env: gym.Env, episodes: int = 10,
             seed: int = EVAL_SEED_OFFSET, max_steps: int | None = None) -> EvalResult:
    """Run ``episodes`` episodes with ``policy(obs) -> action``; episode ``i`` resets with
    ``seed + i``. Returns per-episode returns, lengths and final scalar ``info`` entries.
    ``episodes`` (and ``max_steps``) must be positive integers and ``seed`` a non-negative one,
    else ``ValueError``: zero episodes would report a mean return of NaN."""
    _count(episodes, "episodes")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= 2**63 - episodes:
        raise ValueError(f"the evaluation seed must be an integer >= 0 (episode i resets with seed + i), got {seed!r}")
    if max_steps is not None:
        _count(max_steps, "max_steps")
    returns, lengths, infos = [], [], []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            total += float(reward)
            length += 1
            done = terminated or truncated or (max_steps is not None and length >= max_steps)
        returns.append(total)
        lengths.append(length)
        infos.append(scalar_info(info))
    return EvalResult(returns, lengths, infos)
