"""Tuned hyperparameters, one JSON file per algorithm and task (like rl-baselines3-zoo's), and
the one function that merges them with what the user gives.

``experiments/configs/<algo>/<env id>.json`` (a ``/`` in the id becomes ``__``)::

    {"algo": "dqn", "env_id": "CartPole-v1", "total_steps": 50000, "eval_freq": 10000,
     "eval_episodes": 10, "source": "...", "env_kwargs": {}, "hyperparameters": {...}}

A run's settings are layered, lowest first: the algorithm's defaults, the tuned file (unless
skipped), then whatever the caller stacks on top (``rlnn train``'s ``--config FILE``,
``--env-kwargs key=value``, ``--set key=value`` and flags; a sweep spec's ``[config]``,
``[env_kwargs]`` and budget; :func:`experiments.api.train`'s ``config``, ``env_kwargs`` and
budget arguments). :func:`merge_config` does it for all of them alike and records where every
setting came from, so a run can say so when it starts. ``env_kwargs`` merge key by key, like the
hyperparameters, and a tuned file may hold some too.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.errors import UsageError

CONFIG_DIR = Path(__file__).resolve().parent
RUN_KEYS = ("total_steps", "eval_freq", "eval_episodes", "checkpoint_freq", "env_kwargs")
FILE_KEYS = frozenset({"algo", "env_id", "source", "hyperparameters", *RUN_KEYS})
DEFAULT = "default"
DEFAULT_TOTAL_STEPS = 100_000


class ConfigError(UsageError):
    """A config file or setting that cannot be used (one line naming the file or flag)."""


def config_path(algo: str, env_id: str) -> Path:
    return CONFIG_DIR / algo / f"{env_id.replace('/', '__')}.json"


def _label(path: Path) -> str:
    """A tuned file as the project names it (``experiments/configs/dqn/CartPole-v1.json``)."""
    try:
        return str(path.relative_to(CONFIG_DIR.parents[1]))
    except ValueError:
        return str(path)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A config file's contents, checked: a JSON object with known keys, ``hyperparameters``
    and ``env_kwargs`` objects. Every problem is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object ({{\"hyperparameters\": {{...}}}}), "
                          f"not a {type(data).__name__}")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {unknown}; accepted: {sorted(FILE_KEYS)}")
    for key in ("hyperparameters", "env_kwargs"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"config file {path}: {key!r} must be a JSON object")
    return data


def tuned_config(algo: str, env_id: str) -> dict[str, Any] | None:
    """The tuned config for ``algo`` on ``env_id``, or ``None`` if there is none."""
    path = config_path(algo, env_id)
    return load_config_file(path) if path.is_file() else None


def available() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem.replace("__", "/")) for p in CONFIG_DIR.glob("*/*.json"))


def parse_sets(pairs: Sequence[str], flag: str = "--set") -> dict[str, Any]:
    """``["gamma=0.9", "net_arch=[64,64]", "ent_coef=auto"]`` → values, each read as JSON when
    it is JSON and kept as a string otherwise (the config's types then check it)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} expects key=value, got {pair!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            values[key.strip()] = raw
    return values


@dataclasses.dataclass(frozen=True)
class Layer:
    """One source of settings: hyperparameters and run keys (any of :data:`RUN_KEYS`), with the
    name the provenance shows (a file path, ``--set``, ``--steps``, a sweep spec)."""
    source: str
    hyperparameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    run: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path, source: str | None = None) -> Layer:
        data = load_config_file(path)
        return cls(source or f"--config {path}", data.get("hyperparameters", {}),
                   {k: data[k] for k in RUN_KEYS if k in data})

    @classmethod
    def from_sets(cls, pairs: Sequence[str], source: str = "--set") -> Layer:
        return cls(source, parse_sets(pairs, source))

    @classmethod
    def from_env_kwargs(cls, pairs: Sequence[str], source: str = "--env-kwargs") -> Layer:
        """``["g=5.0", "max_episode_steps=100"]``: keyword arguments of the environment, read
        as ``--set`` reads values."""
        return cls(source, run={"env_kwargs": parse_sets(pairs, source)})


@dataclasses.dataclass
class MergedConfig:
    """The settings of a run after every layer, and where each came from (``sources``: a key,
    or ``env_kwargs.<key>``, to its layer's name; absent keys are the defaults)."""
    hyperparameters: dict[str, Any]
    total_steps: int
    eval_freq: int
    eval_episodes: int
    checkpoint_freq: int
    env_kwargs: dict[str, Any]
    sources: dict[str, str]
    layers: tuple[str, ...]
    """The names of the layers applied, lowest first (the defaults not included)."""

    def run_keys(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in RUN_KEYS}

    def source_of(self, key: str) -> str:
        return self.sources.get(key, DEFAULT)

    def describe(self, hyperparameters: Mapping[str, Any] | None = None) -> list[str]:
        """Lines for the start of a run: each source with its settings, in layer order and the
        defaults last. ``hyperparameters`` (the agent's whole config) adds the defaults' values."""
        settings: dict[str, Any] = {k: v for k, v in self.run_keys().items() if k != "env_kwargs"}
        settings.update({f"env_kwargs.{k}": v for k, v in self.env_kwargs.items()})
        settings.update(hyperparameters if hyperparameters is not None else self.hyperparameters)
        by_source: dict[str, list[str]] = {name: [] for name in (*self.layers, DEFAULT)}
        for key, value in settings.items():
            by_source.setdefault(self.source_of(key), []).append(f"{key}={compact(value)}")
        return [f"settings from {name}: {', '.join(items)}" for name, items in by_source.items() if items]


def compact(value: Any, limit: int = 60) -> str:
    """A setting's value as ``--set`` would take it back (JSON for lists, dicts, booleans and
    ``None``), cut to ``limit`` characters."""
    text = json.dumps(value) if isinstance(value, (list, dict, bool)) or value is None else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _whole(value: Any, key: str, source: str, minimum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = "a positive whole number" if minimum >= 1 else "0 (off) or a positive whole number"
        raise ConfigError(f"{source}: {key} must be {what}, got {value!r}")
    return value


def merge_config(algo: str, env_id: str, layers: Sequence[Layer] = (), *, tuned: bool = True) -> MergedConfig:
    """The settings of ``algo`` on ``env_id``: defaults, then the tuned file (when ``tuned`` and
    one exists), then ``layers`` in order, each overriding the ones below key by key
    (``env_kwargs`` too). Budget defaults that are not set anywhere follow ``total_steps``:
    an evaluation every tenth and a checkpoint every fifth of the run."""
    path = config_path(algo, env_id)
    stack = [Layer.from_file(path, _label(path))] if tuned and path.is_file() else []
    stack += list(layers)
    hyper: dict[str, Any] = {}
    run: dict[str, Any] = {}
    env_kwargs: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in stack:
        hyper.update(layer.hyperparameters)
        sources.update(dict.fromkeys(layer.hyperparameters, layer.source))
        for key, value in layer.run.items():
            if key not in RUN_KEYS:
                raise ConfigError(f"{layer.source}: unknown run key {key!r}; accepted: {list(RUN_KEYS)}")
            if key == "env_kwargs":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{layer.source}: env_kwargs must be a table of keyword arguments")
                env_kwargs.update(value)
                sources.update({f"env_kwargs.{k}": layer.source for k in value})
            else:
                run[key] = _whole(value, key, layer.source, minimum=1 if key in ("total_steps", "eval_episodes") else 0)
                sources[key] = layer.source
    total = run.get("total_steps", DEFAULT_TOTAL_STEPS)
    return MergedConfig(hyperparameters=hyper, total_steps=total,
                        eval_freq=run.get("eval_freq", max(total // 10, 1)),
                        eval_episodes=run.get("eval_episodes", 10),
                        checkpoint_freq=run.get("checkpoint_freq", max(total // 5, 1)),
                        env_kwargs=env_kwargs, sources=sources, layers=tuple(layer.source for layer in stack))
