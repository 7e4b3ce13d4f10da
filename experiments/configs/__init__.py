"""Tuned hyperparameters, one JSON file per algorithm and task (like rl-baselines3-zoo's).

``experiments/configs/<algo>/<env id>.json`` (a ``/`` in the id becomes ``__``)::

    {"algo": "dqn", "env_id": "CartPole-v1", "total_steps": 50000, "eval_freq": 10000,
     "eval_episodes": 10, "source": "...", "env_kwargs": {}, "hyperparameters": {...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
RUN_KEYS = ("total_steps", "eval_freq", "eval_episodes", "checkpoint_freq", "env_kwargs")


def config_path(algo: str, env_id: str) -> Path:
    return CONFIG_DIR / algo / f"{env_id.replace('/', '__')}.json"


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"config file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a JSON object")
    allowed = {"algo", "env_id", "source", "hyperparameters", *RUN_KEYS}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"config file {path}: unknown key(s) {unknown}; accepted: {sorted(allowed)}")
    return data


def tuned_config(algo: str, env_id: str) -> dict[str, Any] | None:
    """The tuned config for ``algo`` on ``env_id``, or ``None`` if there is none."""
    path = config_path(algo, env_id)
    return load_config_file(path) if path.is_file() else None


def available() -> list[tuple[str, str]]:
    return sorted((p.parent.name, p.stem.replace("__", "/")) for p in CONFIG_DIR.glob("*/*.json"))
