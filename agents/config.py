"""Hyperparameter dataclasses from dictionaries (JSON files, ``--set key=value``), with checks.

An unknown key or a value of the wrong type is a one-line ``ValueError`` naming the key, the
expected type and the accepted keys: ``learning_starts = 5e3`` is rejected, not truncated.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .noise import NOISE_TYPES

T = TypeVar("T")


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                as_float = float(value.replace("_", ""))
                if as_float.is_integer():
                    return int(as_float)
            except ValueError:
                pass
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, str):
            return value
    elif origin in (list, tuple):
        (item_type,) = set(typing.get_args(annotation)) - {Ellipsis} or {Any}
        if isinstance(value, str):
            value = [v for v in value.replace("[", "").replace("]", "").split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            items = [_coerce(name, v.strip() if isinstance(v, str) else v, item_type) for v in value]
            return items if origin is list else tuple(items)
    elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        for option in typing.get_args(annotation):
            if option is type(None):
                if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
                    return None
                continue
            try:
                return _coerce(name, value, option)
            except ValueError:
                continue
    elif annotation is Any:
        return value
    raise ValueError(f"config key {name!r} expects {getattr(annotation, '__name__', annotation)}, got {value!r}")


def config_from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build the dataclass ``cls`` from ``values``, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} for {cls.__name__}; accepted: {sorted(fields)}")
    kwargs = {k: _coerce(k, v, hints[k]) for k, v in values.items()}
    config = cls(**kwargs)
    check = getattr(config, "validate", None)
    if check is not None:
        check()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


@dataclass
class OffPolicyConfig:
    """The hyperparameters every off-policy agent shares (names and meanings as in
    Stable-Baselines3). Each algorithm's config subclasses this and redeclares the defaults
    that differ; :meth:`validate` checks them all in one place."""
    learning_rate: float = 3e-4
    """Adam step size."""
    learning_rate_schedule: str = "constant"
    """"constant", or "linear": decay to 0 at the end of training (steadies the final policy)."""
    buffer_size: int = 1_000_000
    """Replay memory capacity (transitions)."""
    learning_starts: int = 100
    """Env steps before the first update."""
    batch_size: int = 256
    """Transitions per gradient step."""
    tau: float = 0.005
    """Target update coefficient: θ' ← (1 − τ) θ' + τ θ (1 = hard copy)."""
    gamma: float = 0.99
    """Discount factor."""
    train_freq: int = 1
    """Env steps between training rounds."""
    gradient_steps: int = 1
    """Gradient steps per training round."""
    n_step: int = 1
    """n-step returns."""
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer widths."""
    activation: str = "relu"
    """Hidden activation."""
    n_envs: int = 1
    """Environments stepped together (``gymnasium.vector``); steps, ``learning_starts`` and the
    evaluation and checkpoint frequencies count transitions of all of them, ``train_freq`` counts
    vector steps (as in Stable-Baselines3)."""
    vec_env: str = "sync"
    """With ``n_envs > 1``: "sync" (one process) or "async" (a process per env, for slow envs)."""
    normalize_observations: bool = False
    """Standardise observations by their running mean and variance, counted while exploring,
    frozen when acting and saved with the agent (:mod:`agents.normalization`)."""
    normalize_rewards: bool = False
    """Divide sampled rewards by their running root-mean-square (:mod:`agents.normalization`)."""
    normalize_clip: float = 10.0
    """Normalized observations and scaled rewards are clipped to ±this."""

    SCHEDULES: ClassVar[tuple[str, ...]] = ("constant", "linear")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "n_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        if self.learning_starts < 0:
            raise ValueError(f"config key 'learning_starts' must be 0 or more, got {self.learning_starts}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"config key 'learning_rate' must be a positive number, got {self.learning_rate}")
        if self.learning_rate_schedule not in self.SCHEDULES:
            raise ValueError(f"config key 'learning_rate_schedule' must be one of {list(self.SCHEDULES)}, "
                             f"got {self.learning_rate_schedule!r}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"config key 'tau' must lie in (0, 1], got {self.tau}")
        if not 0 <= self.gamma <= 1:
            raise ValueError(f"config key 'gamma' must lie in [0, 1], got {self.gamma}")
        if not self.net_arch or any(width < 1 for width in self.net_arch):
            raise ValueError(f"config key 'net_arch' must list positive layer widths, got {self.net_arch}")
        from rlnn.activations import ACTIVATIONS
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"config key 'activation' must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.n_envs < 1:
            raise ValueError(f"config key 'n_envs' must be at least 1, got {self.n_envs}")
        if self.vec_env not in ("sync", "async"):
            raise ValueError(f"config key 'vec_env' must be 'sync' or 'async', got {self.vec_env!r}")
        dtype = getattr(self, "dtype", "float32")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"config key 'dtype' must be 'float32' or 'float64', got {dtype!r}")

    def learning_rate_at(self, step: int, total_steps: int) -> float:
        """The learning rate after ``step`` of ``total_steps`` env steps."""
        if self.learning_rate_schedule == "linear":
            return self.learning_rate * max(0.0, 1.0 - step / total_steps)
        return self.learning_rate


@dataclass
class ContinuousOffPolicyConfig(OffPolicyConfig):
    """What SAC and TD3/DDPG share beyond :class:`OffPolicyConfig`: the kind of exploration noise
    (:mod:`agents.noise`). ``noise_type`` is rl-baselines3-zoo's key for the exploration noise of
    the off-policy agents ("normal" there is SB3's ``NormalActionNoise``), and ``noise_beta`` /
    ``noise_seq_len`` follow the ``beta`` / ``seq_len`` of the paper's ``ColoredActionNoise``, so
    a zoo or ``pink`` user finds them. For SAC the noise is the ``ε`` of ``a = tanh(μ + σ ε)``
    while collecting (its updates keep white ``ε``); for TD3 it is the exploration noise, times
    ``action_noise``."""
    noise_type: str = "normal"
    """Exploration noise: "normal" (white, i.i.d. N(0, 1) per step, as before), "pink" (power
    spectral density ∝ 1/f, β = 1) or "colored" (∝ 1/f^β with β = ``noise_beta``: 0 white, 2 red)."""
    noise_beta: float | None = None
    """The exponent β of "colored" noise (needed with it, refused with the others: "pink" is β = 1)."""
    noise_seq_len: int = 1000
    """Steps of each pink or colored chunk: set it to the env's time limit (``max_episode_steps``).
    A sub-env starts a fresh chunk at each episode end or when its chunk runs out."""

    def validate(self) -> None:
        super().validate()
        if self.noise_type not in NOISE_TYPES:
            raise ValueError(f"config key 'noise_type' must be one of {list(NOISE_TYPES)}, got {self.noise_type!r}")
        if self.noise_type == "colored":
            if self.noise_beta is None:
                raise ValueError("config key 'noise_beta' is needed with noise_type 'colored' (1 is pink, 2 red), "
                                 "e.g. --set noise_beta=1.5")
            if not (math.isfinite(self.noise_beta) and self.noise_beta >= 0):
                raise ValueError(f"config key 'noise_beta' must be a number >= 0 (0 white, 1 pink, 2 red), "
                                 f"got {self.noise_beta}")
        elif self.noise_beta is not None:
            raise ValueError(f"config key 'noise_beta' applies to noise_type 'colored' only, not "
                             f"{self.noise_type!r} ('normal' is beta 0, 'pink' beta 1); drop it or set "
                             f"noise_type=colored")
        if self.noise_seq_len < 2:
            raise ValueError(f"config key 'noise_seq_len' must be at least 2 (the env's time limit), "
                             f"got {self.noise_seq_len}")


@dataclass
class RunSettings:
    """How a run is carried out, apart from the agent and its hyperparameters: what ``rlnn
    train``'s flags and a sweep's trial set. ``lanes`` and ``blas_threads`` are "auto" by default
    (chosen from the update's size and the machine's cores, see :func:`agents.parallel.choose_lanes`)."""
    total_steps: int
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    run_dir: str | Path | None = None
    eval_freq: int = 0
    """Env steps between evaluations (0: none)."""
    eval_episodes: int = 10
    checkpoint_freq: int = 0
    """Env steps between periodic checkpoints (0: none; the resume point is still written at the end)."""
    progress: bool = True
    blas_threads: int | str = "auto"
    lanes: int | str = "auto"
    """Processes that split each batch's rows (:mod:`agents.parallel`); "auto" picks by update size."""
    run_info: dict[str, Any] = field(default_factory=dict)
    """Extra entries for ``run.json`` (the command line, where the config came from)."""
    overwrite: bool = False
    """Start afresh in a ``run_dir`` that already holds a run (its files are removed first)."""
    tensorboard: bool = False
    """Also write every metric as TensorBoard event files into ``run_dir/tensorboard``."""

    def validate(self) -> None:
        for name in ("total_steps", "eval_episodes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_freq", "checkpoint_freq"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be 0 (off) or positive, got {getattr(self, name)}")
        for name in ("blas_threads", "lanes"):
            value = getattr(self, name)
            if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be 'auto' or a positive whole number, got {value!r}")
