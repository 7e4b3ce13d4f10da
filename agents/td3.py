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
as SB3's ``NormalActionNoise`` on its rescaled actions) and clips to the bounds; with
``noise_type`` "pink" or "colored" that noise is correlated in time (:mod:`agents.noise`).

DDPG is this class configured with one critic, no target smoothing and no delay (:class:`DDPG`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from rlnn.module import Module
from rlnn.optim import Adam, Optimizer

from .actor_critic import ActionScaler, Critics, check_continuous_spaces, mlp
from .checkpoint import pack_state, rebuild_agent, restore_agent_state, unpack_state, with_agent_state
from .config import ContinuousOffPolicyConfig, config_from_dict
from .noise import ColoredNoise, exploration_noise
from .normalization import Normalization
from .parallel import SERIAL, Reducer
from .replay import Batch
from .run_length import RunLength
from .spaces import ObservationEncoder


@dataclass
class TD3Config(ContinuousOffPolicyConfig):
    """TD3 hyperparameters (names, meanings and defaults as in Stable-Baselines3)."""
    learning_rate: float = 1e-3
    """Adam step size for the actor and the critics."""
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
    dtype: str = "float32"
    """Network dtype ("float64" for gradient checks)."""

    def validate(self) -> None:
        super().validate()
        for name in ("policy_delay", "n_critics"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        for name in ("target_noise", "noise_clip", "action_noise"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"config key {name!r} must be non-negative, got {getattr(self, name)}")


@dataclass
class DDPGConfig(TD3Config):
    """DDPG = TD3 with one critic, no target-policy smoothing and no policy delay."""
    policy_delay: int = 1
    """Critic updates per actor (and target) update."""
    target_noise: float = 0.0
    """Std of the target-policy smoothing noise (DDPG: none)."""
    n_critics: int = 1
    """Number of Q-networks (DDPG: one)."""


class TD3:
    """TD3 (DDPG by configuration) for bounded 1-D ``Box`` actions and vector observations (a
    ``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary`` or a ``Dict``/``Tuple`` of those,
    encoded by :class:`~agents.spaces.ObservationEncoder`; optionally normalized,
    :mod:`agents.normalization`).

    ``total_steps`` (the run's length in env steps) matters only to the "linear" learning-rate
    schedule: with it, a custom loop must give ``TD3(..., total_steps=N)`` or set
    ``agent.total_steps`` before ``on_step``, else that is a one-line ``ValueError``
    (:mod:`agents.run_length`); the training loop sets it."""

    algo = "td3"
    Config = TD3Config
    metric_names = ("critic_loss", "actor_loss", "q_mean")
    total_steps = RunLength()

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: TD3Config | dict | None = None, seed: int | None = 0, total_steps: int | None = None) -> None:
        cls = type(self).Config
        self.config = config if isinstance(config, cls) else config_from_dict(cls, config or {})
        self.encoder = ObservationEncoder(observation_space, self.algo.upper())
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
        self.normalization = Normalization(self.obs_dim, c)
        self.exploration_noise = exploration_noise(c, self.act_dim, self.dtype)
        self.n_updates = 0
        self.total_steps = total_steps
        self.last_actor_loss = 0.0

    # -- acting ------------------------------------------------------------------------------
    def predict(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """``center + scale · μ(s)`` for raw observations of the env (or rows :meth:`encode`
        made): ``(act_dim,)`` for one observation, ``(B, act_dim)`` for a batch;
        ``deterministic=False`` adds the exploration noise. The observation statistics are
        applied, never updated. SB3's name, but SB3's ``predict`` returns ``(action, state)`` and
        this the action(s) only. ``act`` is the same method."""
        return self._actions(obs, deterministic)

    act = predict

    def _actions(self, obs: Any, deterministic: bool, noise: ColoredNoise | None = None) -> np.ndarray:
        """:meth:`predict`, with the exploration noise's ``ε`` taken from ``noise`` when given (else white)."""
        obs = self.normalization.observations(self.encode(obs))
        unit = self.actor.predict(obs if obs.ndim == 2 else obs[None])
        if not deterministic and self.config.action_noise > 0:
            eps = self.rng.standard_normal(unit.shape, dtype=unit.dtype) if noise is None else \
                noise.sample(len(unit), self.rng)
            unit = unit + self.config.action_noise * eps
        actions = np.clip(self.scaler.to_env(unit), self.scaler.low, self.scaler.high).astype(np.float32)
        return actions if obs.ndim == 2 else actions[0]

    def encode(self, obs: Any) -> np.ndarray:
        """Raw observation(s) as the flat float32 rows the networks and the replay memory take
        (:class:`~agents.spaces.ObservationEncoder`; rows already encoded pass through)."""
        return self.encoder.encode(obs)

    def explore(self, obs: Any, step: int) -> np.ndarray:
        """Uniform random actions before ``learning_starts``, then ``μ(s)`` plus Gaussian noise
        (pink or colored with ``noise_type``, :mod:`agents.noise`; row ``i`` is sub-env ``i``):
        ``(act_dim,)`` for one observation, ``(n, act_dim)`` for a batch of ``n``. Each
        observation given here is counted once in the normalization statistics (when on)."""
        obs = self.encode(obs)
        self.normalization.observe(obs)
        if step < self.config.learning_starts:
            return self.scaler.uniform(self.rng, None if obs.ndim == 1 else len(obs))
        return self._actions(obs, False, self.exploration_noise)

    def on_episode_end(self, env: int) -> None:
        """Sub-env ``env``'s episode ended: its next exploration step starts a fresh noise chunk."""
        if self.exploration_noise is not None:
            self.exploration_noise.reset(env)

    # -- losses ------------------------------------------------------------------------------
    def td_target(self, batch: Batch, noise: np.ndarray | None = None) -> np.ndarray:
        """``y = r + γ^k (1 − terminated) min_i Q'_i(s', ã)``, shape ``(B,)``; ``noise`` ``(B, d)``
        is the unclipped smoothing noise (drawn from the agent's RNG when not given)."""
        c = self.config
        unit = self.actor_target(batch.next_obs)
        if c.target_noise > 0:
            if noise is None:
                noise = self._smoothing_noise(len(unit))
            unit = np.clip(unit + np.clip(noise, -c.noise_clip, c.noise_clip), -1.0, 1.0)
        q_next = self.critics.target_min(batch.next_obs, self.scaler.to_env(unit))
        not_done = batch.discount * (1.0 - batch.terminated)
        return batch.rewards + not_done.astype(self.dtype) * q_next

    def actor_loss(self, obs: np.ndarray, backward: bool = True, weight: float = 1.0) -> float:
        """``L_μ = −mean_b Q_0(s, μ(s))``; fills the actor's ``.grad`` (zeroed first) unless
        ``backward=False``. The critics' ``.grad`` are never touched. Loss and gradient are times
        ``weight`` (these rows' share of the batch)."""
        unit = self.actor(obs)
        q = self.critics.forward(obs, self.scaler.to_env(unit), count=1)
        loss = -weight * float(q.mean())
        if backward:
            grad_q = np.full_like(q, -weight / q.shape[1])
            grad_unit = self.critics.action_grad(grad_q)
            grad_unit *= self.scaler.scale
            self.actor.backward(grad_unit, input_grad=False, accumulate=False)  # the Tanh layer: times 1 − μ²
        return loss

    # -- one update --------------------------------------------------------------------------
    def _smoothing_noise(self, rows: int) -> np.ndarray:
        return self.config.target_noise * self.rng.standard_normal((rows, self.act_dim), dtype=self.dtype)

    def prepare(self, batches: list[Batch]) -> list[Batch]:
        """Each batch with its target-smoothing noise ``(B, d)`` from the agent's RNG (none
        without smoothing); observations normalized and rewards scaled first when the config
        asks (:mod:`agents.normalization`)."""
        batches = self.normalization.batches(batches)
        if self.config.target_noise <= 0:
            return batches
        return [Batch(b.obs, b.actions, b.rewards, b.next_obs, b.terminated, b.discount, self._smoothing_noise(len(b)))
                for b in batches]

    def train_round(self, batches: list[Batch], reducer: Reducer = SERIAL) -> list[dict[str, float]]:
        """Per batch, one critic step; every ``policy_delay``-th also an actor step and the
        target updates. On the rows this process is given."""
        c, share = self.config, reducer.share
        results = []
        for batch in batches:
            critic_loss, q = self.critics.loss_backward(batch.obs, batch.actions, self.td_target(batch, batch.noise),
                                                        share)
            reducer.step(self.critics.optimizers)
            self.n_updates += 1
            if self.n_updates % c.policy_delay == 0:
                self.last_actor_loss = self.actor_loss(batch.obs, weight=share)
                reducer.step([self.actor_optimizer],
                             targets=[*self.critics.target_pairs(c.tau), (self.actor_target, self.actor, c.tau)])
            results.append({"critic_loss": critic_loss, "actor_loss": self.last_actor_loss,
                            "q_mean": share * float(q.mean())})
        return results

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One update on a minibatch, in this process."""
        return self.train_round(self.prepare([batch]))[0]

    def on_step(self, step: int) -> None:
        """The learning-rate schedule (targets move with the gradient steps)."""
        self.set_learning_rate(self.config.learning_rate_at(step, self.total_steps))

    def set_learning_rate(self, lr: float) -> None:
        for opt in (self.actor_optimizer, *self.critics.optimizers):
            opt.lr = lr

    # -- checkpoints -------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"actor": self.actor, "actor_target": self.actor_target, **self.critics.modules()}

    def parallel_modules(self) -> list[tuple[Module, Optimizer | None]]:
        """The networks a row split shares between processes, with their optimisers."""
        return [(self.actor, self.actor_optimizer), (self.actor_target, None), *self.critics.parallel_modules()]

    def _optimizers(self) -> dict[str, Any]:
        return {"actor": self.actor_optimizer, **self.critics.named_optimizers()}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state(self._modules(), self._optimizers())
        return with_agent_state(self, arrays, meta, last_actor_loss=self.last_actor_loss,
                                learning_rate=self.actor_optimizer.lr)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, self._modules(), self._optimizers())
        restore_agent_state(self, arrays, meta)
        self.last_actor_loss = float(meta.get("last_actor_loss", 0.0))
        self.set_learning_rate(float(meta.get("learning_rate", self.config.learning_rate)))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TD3:
        return rebuild_agent(cls, arrays, meta)


class DDPG(TD3):
    """DDPG: :class:`TD3` with :class:`DDPGConfig` defaults (one critic, no smoothing, no delay)."""

    algo = "ddpg"
    Config = DDPGConfig
