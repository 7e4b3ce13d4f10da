"""TD3 (Fujimoto et al. 2018) and DDPG (Lillicrap et al. 2016) on ``rlnn`` networks.

A deterministic actor ``μ(s) = tanh(MLP(s)) ∈ [-1, 1]^d`` (scaled to the ``Box`` bounds for the
environment), ``n_critics`` critics ``Q_i([s, a])``, target copies of both. One update::

    ã  = clip(μ'(s') + clip(N(0, target_noise²), −noise_clip, noise_clip), −1, 1)   (smoothing)
    y  = r + γ^k (1 − terminated) min_i Q'_i(s', ã)
    L_Q = ½ Σ_i mean_b (Q_i(s, a) − y)²                  dL_Q/dQ_i = (Q_i − y) / B
    every policy_delay updates:
        L_μ = −mean_b Q_0(s, μ(s))      dL/dθ_μ = actor.backward(dL/dQ_0 · dQ_0/da · scale · (1 − μ²))
        Polyak-average the target critics and the target actor

``dQ_0/da`` comes from the critic's ``backward(…, param_grads=False)``, so the critic's own
gradients are untouched; ``(1 − μ²)`` is the actor's tanh output layer (``rlnn.Tanh``).
Exploration adds ``N(0, action_noise²)`` in the ``[-1, 1]`` space (a fraction of the half-range,
as SB3's ``NormalActionNoise`` on its rescaled actions) and clips to the bounds.

DDPG is this class configured with one critic, no target smoothing and no delay (:class:`DDPG`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from rlnn.optim import Adam, polyak_update

from .actor_critic import ActionScaler, Critics, check_continuous_spaces, mlp
from .checkpoint import pack_state, unpack_state
from .config import config_from_dict, config_to_dict
from .forked import ForkedLane, SharedNet, can_split, rows_area, shared_array, write_rows
from .lanes import Lanes
from .replay import Batch
from .spaces import as_observation, space_from_json, space_to_json


@dataclass
class TD3Config:
    """TD3 hyperparameters (names, meanings and defaults as in Stable-Baselines3)."""
    learning_rate: float = 1e-3
    """Adam step size for the actor and the critics."""
    buffer_size: int = 1_000_000
    """Replay memory capacity (transitions)."""
    learning_starts: int = 100
    """Env steps of uniformly random actions before the first update."""
    batch_size: int = 256
    """Transitions per gradient step."""
    tau: float = 0.005
    """Polyak coefficient of the target networks."""
    gamma: float = 0.99
    """Discount factor."""
    train_freq: int = 1
    """Env steps between training rounds."""
    gradient_steps: int = 1
    """Gradient steps per training round."""
    policy_delay: int = 2
    """Critic updates per actor (and target) update."""
    target_noise: float = 0.2
    """Std of the target-policy smoothing noise, in [-1, 1] action units (0 disables)."""
    noise_clip: float = 0.5
    """Clip of the target-policy smoothing noise."""
    action_noise: float = 0.1
    """Std of the Gaussian exploration noise as a fraction of the half-range (high − low) / 2."""
    n_critics: int = 2
    """Number of Q-networks (the target uses their minimum; the actor follows the first)."""
    net_arch: list[int] = field(default_factory=lambda: [400, 300])
    """Hidden layer widths of the actor and of each critic."""
    activation: str = "relu"
    """Hidden activation."""
    n_step: int = 1
    """n-step returns."""
    dtype: str = "float32"
    """Network dtype ("float64" for gradient checks)."""

    def validate(self) -> None:
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "policy_delay", "n_critics",
                     "n_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"config key 'tau' must lie in (0, 1], got {self.tau}")
        for name in ("target_noise", "noise_clip", "action_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"config key {name!r} must be non-negative, got {getattr(self, name)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"config key 'dtype' must be 'float32' or 'float64', got {self.dtype!r}")


@dataclass
class DDPGConfig(TD3Config):
    """DDPG = TD3 with one critic, no target-policy smoothing and no policy delay."""
    policy_delay: int = 1
    """Critic updates per actor (and target) update."""
    target_noise: float = 0.0
    """Std of the target-policy smoothing noise (DDPG: none)."""
    n_critics: int = 1
    """Number of Q-networks (DDPG: one)."""


@dataclass
class _Split:
    """Shared memory of :meth:`TD3._train_round_split`."""
    half: int                          # this process's rows: 0 .. half
    nets: dict[str, SharedNet]         # actor and critics
    targets: dict[str, SharedNet]      # their targets, under the same names
    inputs: dict[str, np.ndarray]      # the worker's rows of each batch: (steps, B − half, ...)
    noise: np.ndarray                  # (steps, B − half, d): the worker's target-smoothing noise
    outputs: np.ndarray                # (steps, 3): the worker's critic loss, actor loss, sum of Q


class TD3:
    """TD3 for ``Box`` observations and bounded ``Box`` actions (DDPG by configuration)."""

    algo = "td3"
    Config = TD3Config
    metric_names = ("critic_loss", "actor_loss", "q_mean")

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: TD3Config | dict | None = None, seed: int | None = 0) -> None:
        cls = type(self).Config
        self.config = config if isinstance(config, cls) else config_from_dict(cls, config or {})
        self.obs_dim, self.act_dim = check_continuous_spaces(observation_space, action_space, self.algo.upper())
        self.observation_space, self.action_space = observation_space, action_space
        c = self.config
        self.dtype = np.dtype(c.dtype)
        self.rng = np.random.default_rng(seed)
        self.scaler = ActionScaler(action_space, self.dtype)
        self.actor = mlp([self.obs_dim, *c.net_arch, self.act_dim], c.activation, self.rng, self.dtype, "tanh")
        self.actor_target = self.actor.copy()
        self.critics = Critics(self.obs_dim, self.act_dim, c.net_arch, c.n_critics, c.activation, self.rng,
                               self.dtype, c.learning_rate)
        self.actor_optimizer = Adam(self.actor.parameters(), lr=c.learning_rate)
        self.n_updates = 0
        self.total_steps = 1
        self.last_actor_loss = 0.0
        self._split: _Split | None = None   # shared memory of the row-split rounds, made on first use

    @property
    def lanes(self) -> Lanes:
        """Threads for work that can run side by side (``lanes.set_workers(2)``)."""
        return self.critics.lanes

    # -- acting ------------------------------------------------------------------------------
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """``center + scale · μ(s)``: ``(act_dim,)`` for one observation, ``(B, act_dim)`` for a
        batch; ``deterministic=False`` adds the exploration noise."""
        obs = as_observation(obs, self.obs_dim)
        unit = self.actor.predict(obs if obs.ndim == 2 else obs[None])
        if not deterministic and self.config.action_noise > 0:
            unit = unit + self.config.action_noise * self.rng.standard_normal(unit.shape, dtype=unit.dtype)
        actions = np.clip(self.scaler.to_env(unit), self.scaler.low, self.scaler.high).astype(np.float32)
        return actions if obs.ndim == 2 else actions[0]

    def explore(self, obs: np.ndarray, step: int) -> np.ndarray:
        """Uniform random actions before ``learning_starts``, then ``μ(s)`` plus Gaussian noise."""
        if step < self.config.learning_starts:
            return self.rng.uniform(self.scaler.low, self.scaler.high).astype(np.float32)
        return self.act(obs, deterministic=False)

    # -- losses ------------------------------------------------------------------------------
    def td_target(self, batch: Batch, noise: np.ndarray | None = None, serial: bool = False) -> np.ndarray:
        """``y = r + γ^k (1 − terminated) min_i Q'_i(s', ã)``, shape ``(B,)``; ``noise`` ``(B, d)``
        is the unclipped smoothing noise (drawn from the agent's RNG when not given)."""
        c = self.config
        unit = self.actor_target(batch.next_obs)
        if c.target_noise > 0:
            if noise is None:
                noise = c.target_noise * self.rng.standard_normal(unit.shape, dtype=unit.dtype)
            unit = np.clip(unit + np.clip(noise, -c.noise_clip, c.noise_clip), -1.0, 1.0)
        q_next = self.critics.target_min(batch.next_obs, self.scaler.to_env(unit), serial)
        not_done = batch.discount * (1.0 - batch.terminated)
        return batch.rewards + not_done.astype(self.dtype) * q_next

    def critic_loss(self, batch: Batch, target: np.ndarray) -> tuple[float, np.ndarray]:
        """``L_Q`` and the critics' ``.grad`` (zeroed first), without a step: the gradient
        :meth:`train_step` follows; returns ``(L_Q, Q)`` with ``Q`` ``(n, B)``."""
        return self.critics.fit(batch.obs, batch.actions, target, step=False)

    def actor_loss(self, obs: np.ndarray, backward: bool = True, weight: float = 1.0, serial: bool = False) -> float:
        """``L_μ = −mean_b Q_0(s, μ(s))``; fills the actor's ``.grad`` (zeroed first) unless
        ``backward=False``. The critics' ``.grad`` are never touched. Loss and gradient are times
        ``weight`` (these rows' share of a batch split over processes)."""
        unit = self.actor(obs)
        q = self.critics.forward(obs, self.scaler.to_env(unit), count=1, serial=serial)
        loss = -weight * float(q.mean())
        if backward:
            grad_q = np.full_like(q, -weight / q.shape[1])
            grad_unit = self.critics.action_grad(grad_q, serial)
            grad_unit *= self.scaler.scale
            self.actor.backward(grad_unit, input_grad=False, accumulate=False)  # the Tanh layer: times 1 − μ²
        return loss

    # -- one update --------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        """One critic step; every ``policy_delay``-th call also an actor step and the target updates."""
        c = self.config
        critic_loss, q = self.critics.fit(batch.obs, batch.actions, self.td_target(batch))
        self.n_updates += 1
        if self.n_updates % c.policy_delay == 0:
            self.last_actor_loss = self.actor_loss(batch.obs)
            self.actor_optimizer.step()
            self.critics.update_targets(c.tau)
            polyak_update(self.actor_target.parameters(), self.actor.parameters(), c.tau)
        return {"critic_loss": critic_loss, "actor_loss": self.last_actor_loss, "q_mean": float(q.mean())}

    def train_round(self, batches: list[Batch]) -> list[dict[str, float]]:
        """:meth:`train_step` on each batch; with two lanes (Linux) each batch's rows are split
        over this process and a forked one (:meth:`_train_round_split`)."""
        if can_split(self.lanes.workers, self.config, batches):
            return self._train_round_split(batches)
        return [self.train_step(b) for b in batches]

    def on_step(self, step: int) -> None:
        """Nothing per env step: targets move with the gradient steps."""

    # -- a round's rows split over two processes ---------------------------------------------
    def _train_round_split(self, batches: list[Batch]) -> list[dict[str, float]]:
        """Each batch split in two row halves, this process training on rows ``0 .. B/2`` and a
        forked worker (:mod:`agents.forked`) on the rest; networks, optimiser states and one
        gradient per process live in shared memory. One update, in :meth:`train_step`'s order:

        1. each side: the target ``y`` of its rows (smoothing noise drawn here for the whole
           batch), the critics' gradients of its rows weighted by its share of ``B`` — barrier;
        2. critic ``i`` is summed over the two gradients and Adam-stepped by process ``i mod 2`` —
           barrier; every ``policy_delay``-th update also:
        3. each side: the actor's gradient of its rows through critic 0 — barrier;
        4. each process sums, Adam-steps and Polyak-averages into its target its half of the
           actor's parameter vector, and moves the target of the critic it stepped — barrier.
        """
        c = self.config
        split = self._split if self._split is not None else self._start_split(batches[0])
        half, n = split.half, len(batches)
        noise = []
        for i in range(n):   # the worker's noise into the memory it reads, ours kept here
            if c.target_noise > 0:        # drawn as td_target draws it, so the RNG stream is the serial one
                drawn = c.target_noise * self.rng.standard_normal((c.batch_size, self.act_dim), dtype=self.dtype)
                noise.append(drawn[:half])
                split.noise[i] = drawn[half:]
            else:
                noise.append(None)
        write_rows(split.inputs, batches, half)
        parts = [b.rows(slice(0, half)) for b in batches]
        own = self.lanes.run_forked(self._serve_split, n,
                                    lambda lane: self._split_updates(lane, parts, noise, half / c.batch_size))
        for metrics, theirs in zip(own, split.outputs):
            metrics["critic_loss"] += float(theirs[0])
            metrics["q_mean"] = (metrics["q_mean"] + float(theirs[2])) / (c.n_critics * c.batch_size)
        return own

    def _start_split(self, batch: Batch) -> _Split:
        """Networks and optimiser states into shared memory (before the fork), and the worker's
        input and output areas."""
        c = self.config
        nets = {"actor": SharedNet(self.actor, self.actor_optimizer)}
        targets = {"actor": SharedNet(self.actor_target)}
        for i, (net, target, opt) in enumerate(zip(self.critics.nets, self.critics.targets, self.critics.optimizers)):
            nets[f"critic{i}"] = SharedNet(net, opt)
            targets[f"critic{i}"] = SharedNet(target)
        half = c.batch_size // 2
        rows = c.batch_size - half
        self._split = _Split(half, nets, targets, rows_area(batch, c.gradient_steps, rows),
                             shared_array((c.gradient_steps, rows, self.act_dim), self.dtype),
                             shared_array((c.gradient_steps, 3), np.float64))
        return self._split

    def _serve_split(self, lane: ForkedLane, n: int) -> None:  # pragma: no cover (runs in the worker)
        split, c = self._split, self.config
        parts = [Batch(**{name: arr[i] for name, arr in split.inputs.items()}) for i in range(n)]
        noise = [split.noise[i] if c.target_noise > 0 else None for i in range(n)]
        for i, metrics in enumerate(self._split_updates(lane, parts, noise, (c.batch_size - split.half) / c.batch_size)):
            split.outputs[i, [0, 2]] = metrics["critic_loss"], metrics["q_mean"]

    def _split_updates(self, lane: ForkedLane, parts: list[Batch], noise: list[np.ndarray | None],
                       weight: float) -> list[dict[str, float]]:
        """One side of :meth:`_train_round_split`. Metrics are this side's parts (``q_mean`` as a
        sum over its rows and critics), except ``actor_loss``: the whole batch's, on this process."""
        split, c = self._split, self.config
        for net in split.nets.values():
            net.use_grads_of(lane.index)
        results = []
        for step, (part, smoothing) in enumerate(zip(parts, noise)):
            target = self.td_target(part, smoothing, serial=True)
            critic_loss, q = self.critics.fit(part.obs, part.actions, target, step=False, weight=weight, serial=True)
            lane.barrier()                              # 1: both sides' critic gradients
            for i in range(c.n_critics):
                if i % 2 == lane.index:
                    split.nets[f"critic{i}"].sum_grads()
                    self.critics.optimizers[i].step()
                else:
                    self.critics.optimizers[i].advance()    # the other process steps it: keep the count
            lane.barrier()                              # 2: the critics have moved
            self.n_updates += 1
            if self.n_updates % c.policy_delay == 0:
                actor_loss = self.actor_loss(part.obs, weight=weight, serial=True)
                if lane.index == 1:
                    split.outputs[step, 1] = actor_loss
                lane.barrier()                          # 3: both sides' actor gradients (and loss parts)
                if lane.index == 0:
                    self.last_actor_loss = actor_loss + float(split.outputs[step, 1])
                actor, own_half = split.nets["actor"], split.nets["actor"].half(lane.index)
                actor.sum_grads(own_half)
                self.actor_optimizer.update_part(lane.index, 2, self.actor_optimizer.advance())
                split.targets["actor"].polyak_from(actor, c.tau, own_half)   # the half this process just moved
                for i in range(lane.index, c.n_critics, 2):
                    split.targets[f"critic{i}"].polyak_from(split.nets[f"critic{i}"], c.tau)
                lane.barrier()                          # 4: actor and targets have moved
            results.append({"critic_loss": critic_loss, "actor_loss": self.last_actor_loss, "q_mean": float(q.sum())})
        return results

    # -- checkpoints -------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"actor": self.actor, "actor_target": self.actor_target, **self.critics.modules()}

    def _optimizers(self) -> dict[str, Any]:
        return {"actor": self.actor_optimizer, **self.critics.named_optimizers()}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state(self._modules(), self._optimizers())
        meta.update(config=config_to_dict(self.config), observation_space=space_to_json(self.observation_space),
                    action_space=space_to_json(self.action_space), rng=self.rng.bit_generator.state,
                    n_updates=self.n_updates, total_steps=self.total_steps, last_actor_loss=self.last_actor_loss)
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, self._modules(), self._optimizers())
        self.critics.load_joint_optimizer(arrays, meta)
        self.rng.bit_generator.state = meta["rng"]
        self.n_updates = int(meta.get("n_updates", 0))
        self.total_steps = int(meta.get("total_steps", 1))
        self.last_actor_loss = float(meta.get("last_actor_loss", 0.0))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TD3:
        agent = cls(space_from_json(meta["observation_space"]), space_from_json(meta["action_space"]),
                    config_from_dict(cls.Config, meta["config"]))
        agent.load_state_dict(arrays, meta)
        return agent


class DDPG(TD3):
    """DDPG: :class:`TD3` with :class:`DDPGConfig` defaults (one critic, no smoothing, no delay)."""

    algo = "ddpg"
    Config = DDPGConfig
