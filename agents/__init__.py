"""Reinforcement-learning agents on ``rlnn`` networks, for any Gymnasium environment.

Every off-policy agent class has the same small surface (no base class):

* ``Agent(observation_space, action_space, config=None, seed=0)`` with ``Agent.Config`` a dataclass;
* ``act(obs, deterministic=True)`` for evaluation, ``explore(obs, step)`` for training;
* ``train_round(batches, reducer)`` (the update, written once: ``agents.parallel`` hands it
  the whole batch or this process's rows of it), ``prepare(batches)`` (its random draws),
  ``train_step(batch)`` (one update, for a custom loop), ``on_step(step)`` (schedules);
* ``state_dict() -> (arrays, meta)``, ``load_state_dict(arrays, meta)``, ``Agent.from_state_dict``.

The loop relies on exactly that (``agents.loop.OffPolicyAgent``, a ``typing.Protocol``). PPO
and A2C (``agents.ppo``) have ``act``/``predict``, ``explore``, ``encode``, the state dicts and
``train_on(rollout, step)``, trained by ``agents.on_policy.OnPolicyTrainer`` on rollouts
(``agents.rollout``). Shared pieces: ``trainer`` (what both loops share: run folder, metrics,
callbacks, evaluation, checkpoints, resume), ``replay`` (experience replay), ``loop`` (the
off-policy training loop), ``parallel`` and ``forked`` (rows split over processes),
``run_folder``, ``evaluation``, ``checkpoint``, ``config`` (typed hyperparameters and run
settings from dicts). CrossQ (``agents.crossq``) is SAC with batch-renorm networks and its own
update, trained in one process (``CrossQTrainer``).
"""

from .callbacks import Callback, LogMetric, StopAfterTime, StopOnReward
from .checkpoint import load_agent, save_agent
from .dqn import DQN, DQNConfig
from .evaluation import EvalResult, evaluate
from .config import RunSettings
from .crossq import CrossQ, CrossQConfig, CrossQTrainer
from .loop import OffPolicyTrainer
from .on_policy import OnPolicyTrainer
from .ppo import A2C, PPO, A2CConfig, PPOConfig
from .replay import Batch, ReplayBuffer
from .sac import SAC, SACConfig
from .td3 import DDPG, TD3, DDPGConfig, TD3Config

ALGORITHMS: dict[str, type] = {"dqn": DQN, "sac": SAC, "td3": TD3, "ddpg": DDPG, "crossq": CrossQ, "ppo": PPO,
                               "a2c": A2C}
ON_POLICY = frozenset({"ppo", "a2c"})


def trainer_class(algo: str) -> type:
    """The trainer that runs ``algo``: :class:`OnPolicyTrainer` for PPO and A2C (rollouts),
    :class:`OffPolicyTrainer` for the others (a replay memory), CrossQ's in one process."""
    if algo == "crossq":
        return CrossQTrainer
    return OnPolicyTrainer if algo in ON_POLICY else OffPolicyTrainer


__all__ = [
           "A2C",
           "ALGORITHMS",
           "CrossQ",
           "CrossQConfig",
           "CrossQTrainer",
           "DDPG",
           "DQN",
           "ON_POLICY",
           "PPO",
           "SAC",
           "TD3",
           "A2CConfig",
           "Batch",
           "Callback",
           "DDPGConfig",
           "DQNConfig",
           "EvalResult",
           "LogMetric",
           "OffPolicyTrainer",
           "OnPolicyTrainer",
           "PPOConfig",
           "ReplayBuffer",
           "RunSettings",
           "SACConfig",
           "StopAfterTime",
           "StopOnReward",
           "TD3Config",
           "evaluate",
           "load_agent",
           "save_agent",
           "trainer_class",
]
