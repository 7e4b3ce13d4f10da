"""The rollout of the on-policy agents (PPO, A2C): ``n_steps`` vector steps of ``n_envs`` envs,
what the policy saw and did there, and the advantages by GAE(λ). Arrays are time-major,
``(T, N, ...)`` with ``T = n_steps`` and ``N = n_envs``: row ``t`` is vector step ``t``.

GAE(λ) (Schulman et al. 2016), vectorised over the envs; only the recursion runs over time::

    V̂_{t+1} = V(s_{t+1})             the episode goes on
            = V(s^final_{t+1})       it was cut by the time limit (truncated): bootstrap from the
                                     value of its final observation
            = 0                      it terminated
    δ_t = r_t + γ V̂_{t+1} − V(s_t)
    A_t = δ_t + γ λ (1 − d_t) A_{t+1}            d_t: the episode ended at step t, either way
    R_t = A_t + V(s_t)                            the value target

``V(s_T)``, after the rollout, is ``last_values``. Stable-Baselines3 gets the same numbers by
adding ``γ V(s^final)`` to a truncated step's reward; here the rewards stay as they were.

:class:`RolloutMemory` is what the collectors of :mod:`agents.collection` write into: each
vector step one row of the rollout, and the actions sent to the envs for as long as their
episodes are in progress (``last_actions``), which resuming replays.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .normalization import EPSILON


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, dones: np.ndarray,
        gamma: float, gae_lambda: float) -> np.ndarray:
    """Advantages ``A`` ``(T, N)`` by the recursion above, from ``r``, ``V(s_t)``, ``V̂_{t+1}`` and
    ``d`` (each ``(T, N)``)."""
    delta = rewards + gamma * next_values - values
    carry = (gamma * gae_lambda) * (1.0 - dones.astype(delta.dtype))
    advantages = np.empty_like(delta)
    running = np.zeros_like(delta[0])
    for t in range(len(delta) - 1, -1, -1):
        running = delta[t] + carry[t] * running
        advantages[t] = running
    return advantages


@dataclass(slots=True)
class RolloutBatch:
    """A minibatch of rollout rows: ``obs`` ``(B, obs_dim)`` as the policy saw them (normalized
    when that is on), ``actions`` as sampled (before clipping to the action space), and the
    collection-time ``log_probs``, ``values``, and the ``advantages`` and ``returns`` (each ``(B,)``)."""
    obs: np.ndarray
    actions: np.ndarray
    log_probs: np.ndarray
    values: np.ndarray
    advantages: np.ndarray
    returns: np.ndarray

    def __len__(self) -> int:
        return len(self.obs)

    def split(self, batch_size: int | None) -> Iterator[RolloutBatch]:
        """Consecutive runs of ``batch_size`` rows (views; the last may be shorter), or the whole
        batch for ``None``."""
        if batch_size is None or batch_size >= len(self):
            yield self
            return
        for start in range(0, len(self), batch_size):
            rows = slice(start, start + batch_size)
            yield RolloutBatch(self.obs[rows], self.actions[rows], self.log_probs[rows], self.values[rows],
                               self.advantages[rows], self.returns[rows])


class RolloutBuffer:
    """``n_steps`` rows of ``n_envs`` transitions; :meth:`finish` adds advantages and returns."""

    COLUMNS = ("obs", "actions", "log_probs", "values", "rewards", "dones", "final_values")

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int, action_shape: tuple[int, ...],
                 action_dtype: Any, dtype: Any = np.float32) -> None:
        self.n_steps, self.n_envs = n_steps, n_envs
        t, n = n_steps, n_envs
        self.obs = np.zeros((t, n, obs_dim), dtype=dtype)
        self.actions = np.zeros((t, n, *action_shape), dtype=action_dtype)
        self.log_probs, self.values, self.rewards, self.final_values = (np.zeros((t, n), dtype=dtype) for _ in range(4))
        self.dones = np.zeros((t, n), dtype=bool)
        self.advantages = self.returns = None
        self.pos = 0

    @property
    def full(self) -> bool:
        return self.pos == self.n_steps

    def add(self, obs: np.ndarray, actions: np.ndarray, log_probs: np.ndarray, values: np.ndarray,
            rewards: np.ndarray, dones: np.ndarray, final_values: np.ndarray) -> None:
        """One vector step, each argument ``(n_envs, ...)``; ``final_values`` is ``V(s^final)``
        where the step truncated an episode and 0 elsewhere."""
        t = self.pos
        self.obs[t], self.actions[t], self.log_probs[t], self.values[t] = obs, actions, log_probs, values
        self.rewards[t], self.dones[t], self.final_values[t] = rewards, dones, final_values
        self.pos += 1

    def finish(self, last_values: np.ndarray, gamma: float, gae_lambda: float) -> None:
        """Advantages and returns of the full rollout; ``last_values`` ``(n_envs,)`` is ``V(s_T)``."""
        following = np.concatenate([self.values[1:], last_values[None].astype(self.values.dtype)])
        next_values = np.where(self.dones, self.final_values, following)
        self.advantages = gae(self.rewards, self.values, next_values, self.dones, gamma, gae_lambda)
        self.returns = self.advantages + self.values

    def epoch(self, batch_size: int | None, rng: np.random.Generator) -> RolloutBatch:
        """Every row of the rollout in the order one pass of minibatches takes them: a fresh random
        permutation, gathered once per column so that the minibatches are slices of it; ``None``,
        or a size of the whole rollout, keeps the rows in order (views, no draw)."""
        size = self.n_steps * self.n_envs
        flat = [a.reshape(size, *a.shape[2:]) for a in
                (self.obs, self.actions, self.log_probs, self.values, self.advantages, self.returns)]
        if batch_size is None or batch_size >= size:
            return RolloutBatch(*flat)
        order = rng.permutation(size)
        return RolloutBatch(*(a.take(order, axis=0) for a in flat))

    def minibatches(self, batch_size: int | None, rng: np.random.Generator) -> Iterator[RolloutBatch]:
        """The rollout's rows in a fresh random order, ``batch_size`` at a time (the last batch
        may be smaller, as in SB3); ``None``, or a size of the whole rollout, is one batch in
        order (no draw)."""
        return self.epoch(batch_size, rng).split(batch_size)

    def reset(self) -> None:
        self.pos = 0
        self.advantages = self.returns = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """The rows collected so far (a rollout cut short by an interruption)."""
        return {name: getattr(self, name)[:self.pos].copy() for name in self.COLUMNS}

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`state_dict`; a ``ValueError`` for missing or misshapen columns."""
        rows = len(arrays["obs"])
        if rows > self.n_steps:
            raise ValueError(f"rollout of {rows} steps, longer than n_steps={self.n_steps}")
        for name in self.COLUMNS:
            column, src = getattr(self, name), np.asarray(arrays[name])
            if src.shape != (rows, *column.shape[1:]) or src.dtype != column.dtype:
                raise ValueError(f"rollout column {name!r} is {src.dtype} {src.shape}, expected "
                                 f"{column.dtype} {(rows, *column.shape[1:])}")
        for name in self.COLUMNS:
            getattr(self, name)[:rows] = arrays[name]
        self.pos = rows
        self.advantages = self.returns = None


class RolloutMemory:
    """What a collector (:class:`~agents.collection.SingleEnv`, :class:`~agents.collection.VectorEnvs`)
    writes each transition into for an on-policy ``agent``, in place of a replay memory.

    Per vector step, ``add_batch(rows, actions, rewards, next_rows, terminated, truncated)``
    writes one rollout row: the observations the policy saw, the sampled actions, their
    log-probabilities and values from the agent's ``explore`` of this step (``agent.last_sample``),
    the rewards (scaled when ``normalize_rewards``), the done flags and ``V(s^final)`` of the
    truncated episodes (one batched pass of the critic). The actions sent to the envs are kept
    while their episodes are in progress: resuming replays them.

    Reward scaling is Stable-Baselines3's ``VecNormalize``'s, at collection time, per env::

        G ← γ G + r        (the running discounted return, 0 at each episode's start)
        r̃ = clip(r / sqrt(Var[G] + ε), −c, c)

    with ``Var[G]`` from the agent's ``normalization.rewards`` statistics, which count every
    ``G`` (and are saved with the agent); ``G`` is saved with the run."""

    def __init__(self, agent: Any, n_envs: int) -> None:
        c = agent.config
        self.agent, self.n_envs, self.gamma = agent, n_envs, float(c.gamma)
        self.action_shape, dtype = agent.action_shape, agent.action_dtype
        self.buffer = RolloutBuffer(c.n_steps, n_envs, agent.obs_dim, agent.action_shape, dtype, agent.dtype)
        self.running_returns = np.zeros(n_envs, dtype=np.float64)
        self.lengths = np.zeros(n_envs, dtype=np.int64)        # steps into each episode in progress
        self.env_actions: deque[np.ndarray] = deque()          # (n_envs, *action_shape) per vector step
        self._no_final_values = np.zeros(n_envs, dtype=agent.dtype)   # V(s^final) of a step that cut none

    def add(self, row: np.ndarray, action: Any, reward: float, next_row: np.ndarray, terminated: bool,
            truncated: bool) -> None:
        """One env's transition (``n_envs = 1``)."""
        self.add_batch(row[None], np.asarray(action)[None], np.array([reward]), next_row[None],
                       np.array([terminated]), np.array([truncated]))

    def add_batch(self, rows: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_rows: np.ndarray,
                  terminated: np.ndarray, truncated: np.ndarray) -> None:
        """One vector step; ``actions`` are those sent to the envs, ``next_rows`` the final
        observations of sub-envs whose episode ended."""
        sample = self.agent.last_sample
        terminated, truncated = np.asarray(terminated), np.asarray(truncated)
        dones = terminated | truncated
        ended = bool(dones.any())      # most steps end no episode: they skip the rest
        final_values = self._no_final_values
        if ended:
            cut = truncated & ~terminated
            if cut.any():
                final_values = np.zeros(self.n_envs, dtype=self.buffer.values.dtype)
                final_values[cut] = self.agent.values(next_rows[cut])
        self.buffer.add(sample.obs, sample.actions, sample.log_prob, sample.values,
                        self._scaled(np.asarray(rewards, dtype=np.float64), dones), dones, final_values)
        self.env_actions.append(np.array(actions, dtype=self.buffer.actions.dtype).reshape(self.n_envs,
                                                                                            *self.action_shape))
        self.lengths += 1
        if ended:                      # else every length grew by one with the deque: nothing to drop
            self.lengths[dones] = 0
            while len(self.env_actions) > self.lengths.max():
                self.env_actions.popleft()

    def _scaled(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        norm = self.agent.normalization
        stats = norm.rewards
        if stats is None:
            return rewards
        self.running_returns = self.running_returns * self.gamma + rewards
        stats.update(self.running_returns)
        scaled = np.clip(rewards / math.sqrt(float(stats.var) + EPSILON), -norm.clip, norm.clip)
        self.running_returns[dones] = 0.0
        return scaled

    def last_actions(self, count: int) -> np.ndarray:
        """The last ``count`` actions sent to the envs, in row order (vector step ``t``, sub-env
        ``i`` at ``t n + i``), as the replay memory gives them."""
        if count == 0:
            return np.zeros((0, *self.action_shape), dtype=self.buffer.actions.dtype)
        stacked = np.stack(self.env_actions).reshape(-1, *self.action_shape)
        if count > len(stacked):
            raise ValueError(f"the run holds {len(stacked)} actions of the episodes in progress, not {count}")
        return stacked[len(stacked) - count:]

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {f"rollout.{k}": v for k, v in self.buffer.state_dict().items()}
        arrays["env_actions"] = self.last_actions(int(self.lengths.max()) * self.n_envs)
        return arrays, {"running_returns": self.running_returns.tolist(), "lengths": self.lengths.tolist()}

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        lengths = np.array(meta["lengths"], dtype=np.int64).reshape(self.n_envs)
        running = np.array(meta["running_returns"], dtype=np.float64).reshape(self.n_envs)
        actions = np.asarray(arrays["env_actions"])
        steps = int(lengths.max()) if lengths.min() >= 0 else -1
        if steps < 0 or actions.shape != (steps * self.n_envs, *self.action_shape) or not np.isfinite(running).all():
            raise ValueError(f"the actions of the episodes in progress do not match their lengths {lengths.tolist()}")
        self.buffer.load_state_dict({k[len("rollout."):]: v for k, v in arrays.items() if k.startswith("rollout.")})
        self.lengths, self.running_returns = lengths, running
        self.env_actions = deque(actions.astype(self.buffer.actions.dtype).reshape(steps, self.n_envs,
                                                                                   *self.action_shape))
