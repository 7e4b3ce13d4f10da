"""Experience replay (seed 000): a ring buffer of past transitions, sampled uniformly at random.

Learning from consecutive transitions would feed the network strongly correlated samples; drawing
minibatches at random from a large memory breaks that correlation and reuses each transition
many times.

Each slot holds ``(obs, action, reward, next_obs, terminated, truncated)``. Observations are
float32; a discrete action is an int64, a continuous one a float32 vector. Memory per transition:
``8 * obs_dim + action_bytes + 4 + 2`` bytes (both observations, the action, the float32 reward,
two flags); e.g. CartPole (obs_dim 4, discrete) 54 bytes, so 100k transitions take 5.4 MB.

A vector step of ``n`` sub-envs stores its ``n`` transitions together (:meth:`ReplayBuffer.add_batch`),
in sub-env order, so the rows of one sub-env are every ``n``-th (``n_envs``), which n-step
returns follow.

Bootstrapping stops only on ``terminated`` (the task ended); a ``truncated`` transition (a time
limit) still bootstraps from its ``next_obs``. With ``n_step > 1`` the sampled reward is the
discounted sum over up to ``n`` steps of the same episode, and the returned ``discount`` is
``gamma ** k`` for the ``k`` steps actually summed, so a target is always
``reward + discount * (1 - terminated) * V(next_obs)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Batch:
    """A sampled minibatch. Shapes: obs/next_obs ``(B, obs_dim)``, actions ``(B,)`` or ``(B, act_dim)``,
    rewards/terminated/discount ``(B,)`` (float32). ``noise`` ``(B, ...)``: the random draws an
    agent's update makes for each row (attached by ``agent.prepare``), or ``None``."""
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    discount: np.ndarray
    noise: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rewards)

    def rows(self, rows: slice) -> Batch:
        """The transitions ``rows`` of this batch (views, no copies)."""
        return Batch(self.obs[rows], self.actions[rows], self.rewards[rows], self.next_obs[rows],
                     self.terminated[rows], self.discount[rows], None if self.noise is None else self.noise[rows])


class ReplayBuffer:
    """Preallocated ring buffer with seeded uniform sampling."""

    def __init__(self, capacity: int, obs_dim: int, action_shape: tuple[int, ...] = (),
                 action_dtype: Any = np.int64, rng: np.random.Generator | int | None = None,
                 n_envs: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"replay capacity must be positive, got {capacity}")
        if not 1 <= n_envs <= capacity:
            raise ValueError(f"replay n_envs must lie in [1, capacity={capacity}], got {n_envs}")
        self.n_envs = int(n_envs)   # rows per vector step: the next step of a sub-env is n_envs rows on
        self.capacity, self.obs_dim = int(capacity), int(obs_dim)
        self.action_shape = tuple(action_shape)
        self.obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self.actions = np.zeros((self.capacity, *self.action_shape), dtype=action_dtype)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=bool)
        self.truncated = np.zeros(self.capacity, dtype=bool)
        self.pos = 0      # next slot to write
        self.size = 0     # number of valid slots
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.obs, self.next_obs, self.actions, self.rewards,
                                      self.terminated, self.truncated))

    def add(self, obs: np.ndarray, action: Any, reward: float, next_obs: np.ndarray,
            terminated: bool, truncated: bool) -> None:
        """Store one transition, overwriting the oldest once full."""
        i = self.pos
        self.obs[i] = obs
        self.actions[i] = action
        self.rewards[i] = reward
        self.next_obs[i] = next_obs
        self.terminated[i] = terminated
        self.truncated[i] = truncated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def add_batch(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
                  terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Store ``k`` transitions at once (one per sub-env of a vector step, in sub-env order):
        obs/next_obs ``(k, obs_dim)``, actions ``(k, ...)``, the rest ``(k,)``. The same as ``k``
        calls of :meth:`add`; once full, the oldest are overwritten."""
        k = len(rewards)
        if k > self.capacity:        # only the newest ``capacity`` rows would survive
            cut = k - self.capacity
            self.pos = (self.pos + cut) % self.capacity
            obs, actions, rewards, next_obs, terminated, truncated = (
                a[cut:] for a in (obs, actions, rewards, next_obs, terminated, truncated))
            k = self.capacity
        idx = (self.pos + np.arange(k)) % self.capacity
        self.obs[idx] = obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.next_obs[idx] = next_obs
        self.terminated[idx] = terminated
        self.truncated[idx] = truncated
        self.pos = (self.pos + k) % self.capacity
        self.size = min(self.size + k, self.capacity)

    def last_actions(self, count: int) -> np.ndarray:
        """The ``count`` most recently stored actions, oldest first (to replay an episode; with
        ``n`` envs a vector step stores ``n`` rows, so the last ``m * n`` reshape to ``(m, n, ...)``)."""
        if count > self.size:
            raise ValueError(f"asked for the last {count} actions but only {self.size} are stored")
        idx = (self.pos - count + np.arange(count)) % self.capacity
        return self.actions[idx]

    def sample(self, batch_size: int, gamma: float = 0.99, n_step: int = 1) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement) from the stored ones."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)
        if n_step == 1:
            return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                         self.terminated[idx].astype(np.float32),
                         np.full(batch_size, gamma, dtype=np.float32))
        return self._sample_n_step(idx, gamma, n_step)

    def _sample_n_step(self, idx: np.ndarray, gamma: float, n_step: int) -> Batch:
        # The newest transition of each sub-env sits among the n_envs rows just before pos; a window
        # may not run past it. The next step of a row's sub-env is n_envs rows further on.
        stride = self.n_envs
        reward = np.zeros(idx.shape, dtype=np.float64)
        last = idx.copy()                         # index of the last transition summed
        steps = np.ones(idx.shape, dtype=np.int64)
        active = np.ones(idx.shape, dtype=bool)   # still extending the window
        cur = idx.copy()
        for k in range(n_step):
            reward += np.where(active, gamma ** k * self.rewards[cur], 0.0)
            last = np.where(active, cur, last)
            steps = np.where(active, k + 1, steps)
            ended = self.terminated[cur] | self.truncated[cur] | ((self.pos - 1 - cur) % self.capacity < stride)
            active &= ~ended
            cur = (cur + stride) % self.capacity
        return Batch(self.obs[idx], self.actions[idx], reward.astype(np.float32), self.next_obs[last],
                     self.terminated[last].astype(np.float32), (gamma ** steps).astype(np.float32))

    # -- saving with a run ------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays of the stored slots plus JSON metadata (positions, the sampler's RNG state)."""
        n = self.size
        arrays = {"obs": self.obs[:n], "next_obs": self.next_obs[:n], "actions": self.actions[:n],
                  "rewards": self.rewards[:n], "terminated": self.terminated[:n], "truncated": self.truncated[:n]}
        meta = {"capacity": self.capacity, "pos": self.pos, "size": n, "rng": self.rng.bit_generator.state,
                "n_envs": self.n_envs}
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if meta["capacity"] != self.capacity:
            raise ValueError(f"replay capacity mismatch: saved {meta['capacity']}, this buffer {self.capacity}")
        if meta.get("n_envs", 1) != self.n_envs:
            raise ValueError(f"replay n_envs mismatch: saved {meta.get('n_envs', 1)}, this buffer {self.n_envs}")
        n = int(meta["size"])
        for name in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated"):
            dst = getattr(self, name)
            src = np.asarray(arrays[name])
            if src.shape != (n, *dst.shape[1:]):
                raise ValueError(f"replay entry {name!r} has shape {src.shape}, expected {(n, *dst.shape[1:])}")
            dst[:n] = src
        self.pos, self.size = int(meta["pos"]), n
        self.rng.bit_generator.state = meta["rng"]
