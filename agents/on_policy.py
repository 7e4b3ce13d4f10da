"""The on-policy training loop of PPO and A2C: collect a rollout of ``n_steps`` vector steps on
``n_envs`` envs, update on it, throw it away. Everything else (the env source, run folder,
metrics, callbacks, evaluation, checkpoints, Ctrl-C, exact resume) is
:class:`agents.trainer.Trainer`'s, as for the off-policy agents. Per loop step::

    a = agent.explore(s)            # a policy sample per sub-env, clipped for the env; the
                                    # sample, log π(a|s) and V(s) go into the rollout
    step the envs, step += n_envs; the rollout row (agents.rollout.RolloutMemory)
    when the rollout is full: V(s_T) of the current observations, GAE, agent.train_on(rollout, step)
    evaluate / checkpoint when step crosses a multiple of eval_freq / checkpoint_freq; callbacks

Steps count transitions of all sub-envs (Stable-Baselines3's count); the linear schedules read
``1 − step / total_steps`` at each update, as SB3's ``progress_remaining``. A run ends at
``total_steps`` (rounded up to a multiple of ``n_envs``): a last rollout that is not full then
makes no update (SB3 would finish it, passing ``total_steps`` by up to a rollout).

A checkpoint may fall anywhere in a rollout: ``checkpoints/resume.npz`` holds the rows collected
so far, the running returns of the reward scaling and the actions of the episodes in progress,
so a resumed run ends with the parameters of an uninterrupted one.

The updates run in one process (their minibatches are too small to split). The lanes share the
stepping of the sub-envs instead (:class:`~agents.split_env.SplitVectorEnv`, ``lanes`` 2 or more,
Linux); "auto" is 1 (see ``_lanes``). The sub-envs, their seeds and actions are the same in every
process, so the lanes never change a run's results.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .collection import SingleEnv
from .forked import fork_available
from .rollout import RolloutMemory
from .trainer import Trainer


class OnPolicyTrainer(Trainer):
    """Trains an on-policy ``agent`` (:class:`~agents.ppo.PPO`, :class:`~agents.ppo.A2C`) on
    ``env`` as ``settings`` say (arguments: :class:`~agents.trainer.Trainer`)."""

    def _lanes(self, agent: Any, lanes: int | str) -> tuple[int, str]:
        c = agent.config
        if lanes == "auto":
            # Measured (PPO LunarLander, 16 sub-envs, 2 cores): 2 lanes are 15% faster on a quiet
            # machine but 29% slower beside one busy process, whose core the worker then waits
            # for; so the default stays 1 until the split stops depending on a free core.
            return 1, "auto: the sub-envs in one process; --lanes 2 splits them" if c.n_envs >= 2 else "auto: one env"
        lanes = int(lanes)
        if lanes > 1:
            if c.n_envs < lanes:
                raise ValueError(f"lanes={lanes} splits the sub-envs over processes, but n_envs={c.n_envs}; "
                                 f"use lanes=1 or n_envs >= {lanes}")
            if not fork_available():
                raise ValueError(f"lanes={lanes} splits the sub-envs over forked processes, which needs Linux; "
                                 f"use lanes=1")
        return lanes, "as set"

    def _env_processes(self) -> int:
        return self.lanes

    def _memory(self) -> RolloutMemory:
        return RolloutMemory(self.agent, self.n_envs)

    @property
    def rollout(self) -> Any:
        """The :class:`~agents.rollout.RolloutBuffer` being filled."""
        return self.replay.buffer

    def _current_rows(self) -> np.ndarray:
        """The encoded observations the envs are at, one row per sub-env."""
        c = self.collector
        return c.row[None] if isinstance(c, SingleEnv) else c.rows

    def _learn(self, before: int) -> None:
        """Update once the rollout is full, then start the next one."""
        rollout, c = self.replay.buffer, self.agent.config
        if not rollout.full:
            return
        rollout.finish(self.agent.values(self._current_rows()), c.gamma, c.gae_lambda)
        self.last_metrics = self.agent.train_on(rollout, self.step)
        rollout.reset()
        self._check_finite(self.last_metrics)

    def _announce(self) -> None:
        name, c = self.source.name, self.agent.config
        size = c.n_steps * self.n_envs
        whole = c.batch_size is None or c.batch_size >= size
        batch = "the whole rollout" if whole else f"minibatches of {c.batch_size}"
        envs = f" ({c.vec_env}, {self.lanes} process(es): {self.lanes_reason})" if self.n_envs > 1 else ""
        self.log(f"{self.agent.algo} on {name}: rollouts of {c.n_steps} steps x {self.n_envs} env(s){envs} = {size} "
                 f"transitions, {c.n_epochs} epoch(s) of {batch}; {self.blas_threads} BLAS thread(s)")
        last = -(-self.total_steps // self.n_envs) * self.n_envs
        if last < size:
            self.log(f"{self.agent.algo} on {name}: {self.total_steps} total steps do not fill one rollout of {size}, "
                     f"so no update will be made; lower n_steps (--set n_steps=N) or train longer")
