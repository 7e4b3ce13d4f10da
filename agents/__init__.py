"""Reinforcement-learning agents on ``rlnn`` networks, for any Gymnasium environment.

Every agent class has the same small surface (no base class):

* ``Agent(observation_space, action_space, config=None, seed=0)`` with ``Agent.Config`` a dataclass;
* ``act(obs, deterministic=True)`` for evaluation, ``explore(obs, step)`` for training;
* ``train_round(batches, reducer)`` (the update, written once: ``agents.parallel`` hands it
  the whole batch or this process's rows of it), ``prepare(batches)`` (its random draws),
  ``train_step(batch)`` (one update, for a custom loop), ``on_step(step)`` (schedules);
* ``state_dict() -> (arrays, meta)``, ``load_state_dict(arrays, meta)``, ``Agent.from_state_dict``.

The loop relies on exactly that (``agents.loop.OffPolicyAgent``, a ``typing.Protocol``).
Shared pieces: ``replay`` (experience replay), ``loop`` (the off-policy training loop),
``parallel`` and ``forked`` (rows split over processes), ``run_folder``, ``evaluation``,
``checkpoint``, ``config`` (typed hyperparameters and run settings from dicts).
"""

from .callbacks import Callback, LogMetric, StopAfterTime, StopOnReward
from .checkpoint import load_agent, save_agent
from .dqn import DQN, DQNConfig
from .evaluation import EvalResult, evaluate
from .config import RunSettings
from .loop import OffPolicyTrainer
from .replay import Batch, ReplayBuffer
from .sac import SAC, SACConfig
from .td3 import DDPG, TD3, DDPGConfig, TD3Config

ALGORITHMS: dict[str, type] = {"dqn": DQN, "sac": SAC, "td3": TD3, "ddpg": DDPG}

__all__ = [
           "ALGORITHMS",
           "DDPG",
           "DQN",
           "SAC",
           "TD3",
           "Batch",
           "Callback",
           "DDPGConfig",
           "DQNConfig",
           "EvalResult",
           "LogMetric",
           "OffPolicyTrainer",
           "ReplayBuffer",
           "RunSettings",
           "SACConfig",
           "StopAfterTime",
           "StopOnReward",
           "TD3Config",
           "evaluate",
           "load_agent",
           "save_agent",
]
