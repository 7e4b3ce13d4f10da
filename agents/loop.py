"""The off-policy training loop shared by DQN, SAC, TD3 and DDPG: collect, store, update, log,
evaluate, checkpoint, call back (everything but the update is :class:`agents.trainer.Trainer`'s,
which the on-policy loop shares).

``OffPolicyTrainer(agent, env, settings)`` trains on ``env``: a registered id (made with
``settings.env_kwargs``), a ``gymnasium.Env``, a factory returning one, or a
``gymnasium.vector.VectorEnv`` (:mod:`agents.collection`); with config ``n_envs = N > 1`` an id
or factory is made into N envs (``vec_env`` "sync" or "async"). Per loop step::

    a = agent.explore(s, step)          # one observation, or the batch of the N sub-envs
    step the env(s), store every transition (N per vector step), step += N
    every train_freq loop steps once step > learning_starts: gradient_steps minibatches through
        agent.train_round (rows split over processes when lanes > 1)
    agent.on_step(t) for every transition count t passed; evaluate / checkpoint when step
    crosses a multiple of eval_freq / checkpoint_freq; callbacks' on_step

Counting is Stable-Baselines3's: ``total_steps``, ``learning_starts`` and the frequencies count
env transitions of all sub-envs, ``train_freq`` counts loop (vector) steps, so N envs make N
times fewer updates per transition unless ``gradient_steps`` grows with N. As ``on_step`` sees
every transition count, DQN refreshes its target network every ``target_update_interval``
transitions (SB3: every ``interval // N`` vector steps) and learning-rate schedules follow the
transitions. The last vector step may pass ``total_steps`` by up to N − 1. ``n_envs = 1`` is
the one-env path, bit for bit as before.

The run folder, callbacks and exact resume are described in :mod:`agents.trainer`; the memory
saved in ``checkpoints/resume.npz`` is the replay memory, whose last rows re-enter the episodes
in progress.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

import rlnn

from .collection import make_replay
from .config import OffPolicyConfig, RunSettings
from .parallel import Reducer
from .replay import Batch, ReplayBuffer
from .trainer import METRIC_COLUMNS, EvalEnv, Trainer, TrainingDiverged

__all__ = ["METRIC_COLUMNS", "EvalEnv", "OffPolicyAgent", "OffPolicyTrainer", "RunSettings", "TrainingDiverged",
           "make_replay"]


class OffPolicyAgent(Protocol):
    """What the training loop relies on; DQN, SAC, TD3 and DDPG have it (no base class)."""
    algo: str
    config: OffPolicyConfig
    action_space: gym.spaces.Space
    obs_dim: int
    metric_names: tuple[str, ...]
    total_steps: int

    def encode(self, obs: Any) -> np.ndarray: ...
    def explore(self, obs: Any, step: int) -> Any: ...
    def act(self, obs: Any, deterministic: bool = True) -> Any: ...
    def prepare(self, batches: list[Batch]) -> list[Batch]: ...
    def train_round(self, batches: list[Batch], reducer: Reducer) -> list[dict[str, float]]: ...
    def on_step(self, step: int) -> None: ...
    def on_episode_end(self, env: int) -> None: ...
    def parallel_modules(self) -> list[tuple[rlnn.Module, rlnn.optim.Optimizer | None]]: ...
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...


class OffPolicyTrainer(Trainer):
    """Trains an off-policy ``agent`` (:class:`OffPolicyAgent`) on ``env`` as ``settings`` say,
    from a replay memory (arguments: :class:`~agents.trainer.Trainer`)."""

    def _memory(self) -> ReplayBuffer:
        return make_replay(self.agent, self.seed, self.n_envs)

    def _train_round(self) -> list[dict[str, float]]:
        """``gradient_steps`` minibatches, all sampled first, through the agent's update and
        the data-parallel collaborator (one process, or rows split over several)."""
        c = self.agent.config
        batches = [self.replay.sample(c.batch_size, c.gamma, c.n_step) for _ in range(c.gradient_steps)]
        return self.reducer.run_round(self.agent, batches)

    def _agent_episode_end(self, index: int) -> None:
        self.agent.on_episode_end(index)

    def _announce(self) -> None:
        name, c = self.source.name, self.agent.config
        envs = f", {self.n_envs} envs ({c.vec_env})" if self.n_envs > 1 else ""
        self.log(f"{self.agent.algo} on {name}: {self.lanes} lane(s) ({self.lanes_reason}), "
                 f"{self.blas_threads} BLAS thread(s){envs}")
        last = -(-self.total_steps // self.n_envs) * self.n_envs      # the step the run ends at
        if c.learning_starts >= last:
            self.log(f"{self.agent.algo} on {name}: learning_starts={c.learning_starts} >= {self.total_steps} total "
                     f"steps, so no update will be made; lower it with --set learning_starts=N")

    def _learn(self, before: int) -> None:
        """Train every ``train_freq`` loop steps once past ``learning_starts``; ``on_step`` for
        every transition count passed."""
        agent, c, n = self.agent, self.agent.config, self.n_envs
        if self.step > c.learning_starts and (self.step // n) % c.train_freq == 0:
            rounds = self._train_round()
            self.last_metrics = {key: sum(m[key] for m in rounds) / len(rounds) for key in rounds[0]}
            self._check_finite(self.last_metrics)
        for count in range(before + 1, self.step + 1):
            agent.on_step(count)
