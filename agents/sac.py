"""Soft Actor-Critic (Haarnoja et al. 2018) on ``rlnn`` networks, every gradient by hand.

Networks: an actor ``MLP([obs_dim, *net_arch, 2 d])`` whose output is ``(μ, ℓ)`` (mean and raw
log-std, ``d = act_dim``), twin critics ``Q_i([s, a])`` with Polyak-averaged targets, and a
learned temperature ``α = exp(log α)``.

Policy (tanh-squashed Gaussian, reparameterised with ``ε ~ N(0, I)`` held fixed)::

    σ = exp(clip(ℓ, LOG_STD_MIN, LOG_STD_MAX))     u = μ + σ ε      a = tanh(u) ∈ [-1, 1]^d
    log π(a|s) = Σ_j [ −ε_j²/2 − log σ_j − log(2π)/2 − log(1 − tanh² u_j) ]
    log(1 − tanh² u) = 2 (log 2 − u − softplus(−2u))      (exact, never log 0)

While collecting, ``ε`` may be pink or colored in time instead (``noise_type``, :mod:`agents.noise`);
the updates' ``ε`` stay white.

The environment receives ``center + scale · a`` (:class:`~agents.actor_critic.ActionScaler`);
the critics see actions in environment units. The constant ``−Σ log scale_j`` of that change of
variables is left out of ``log π`` (as in SB3), so the target entropy ``−d`` is in ``[-1, 1]^d`` units.

One update (SB3's order), with ``α`` read once at the start::

    y   = r + γ^k (1 − terminated) (min_i Q'_i(s', a') − α log π(a'|s')),   a' ~ π(·|s')
    L_Q = ½ Σ_i mean_b (Q_i(s, a) − y)²                  dL_Q/dQ_i = (Q_i − y) / B
    L_π = mean_b (α log π(a_π|s) − min_i Q_i(s, a_π))    a_π ~ π(·|s), critics just updated
    L_α = −log α · mean_b (log π(a_π|s) + H̄)             dL_α/dlog α = −mean(log π + H̄)

Actor gradient: ``dL_π/da`` comes from the critics' ``backward(…, param_grads=False)`` — only
the smaller critic of each sample gets ``−1/B`` — then through the squash::

    dL/du = dL/da · scale · (1 − a²) + dL/dlog π · 2 tanh(u)      (d/du of −log(1 − tanh² u))
    dL/dμ = dL/du
    dL/dℓ = (dL/du · σ ε − dL/dlog π) · 1[LOG_STD_MIN < ℓ < LOG_STD_MAX]

The log-std clamp is SB3's hard ``clamp``: inside the bounds its gradient is 1, outside 0 (the
bounds are rarely reached: σ ∈ [2e-9, 7.4]). ``dL/dlog π`` is ``α / B`` for ``L_π``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from rlnn.module import Module, Parameter
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

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class SACConfig(ContinuousOffPolicyConfig):
    """SAC hyperparameters (names, meanings and defaults as in Stable-Baselines3)."""
    ent_coef: str | float = "auto"
    """Temperature α: a number (fixed), "auto" (learned, starting at 1) or "auto_<init>" (learned from <init>)."""
    target_entropy: float | None = None
    """Entropy target H̄ of the learned temperature; None means −act_dim."""
    target_update_interval: int = 1
    """Gradient steps between target-critic updates."""
    n_critics: int = 2
    """Number of Q-networks (the target uses their minimum)."""
    dtype: str = "float32"
    """Network dtype ("float64" for gradient checks)."""

    def validate(self) -> None:
        super().validate()
        for name in ("target_update_interval", "n_critics"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        self.parse_ent_coef()

    def parse_ent_coef(self) -> tuple[bool, float]:
        """``(learned, initial α)`` from ``ent_coef``."""
        value = self.ent_coef
        learned = isinstance(value, str) and value.startswith("auto")
        try:
            init = float(value[5:]) if learned and value != "auto" else 1.0 if learned else float(value)
        except ValueError:
            init = -1.0
        if not init > 0:
            raise ValueError(f"config key 'ent_coef' must be 'auto', 'auto_<positive float>' or a positive "
                             f"number, got {value!r}")
        return learned, init



@dataclass(slots=True)
class PolicySample:
    """What one pass of the squashed Gaussian policy produced and what its backward needs.
    Shapes: ``action`` (a = tanh u), ``std``, ``eps``, ``inside`` ``(B, d)``; ``log_prob`` ``(B,)``."""
    action: np.ndarray
    log_prob: np.ndarray
    std: np.ndarray
    eps: np.ndarray
    inside: np.ndarray


class Temperature(Module):
    """``log α`` as a module of one parameter, so that it is stepped, shared between processes
    and saved like the networks."""

    def __init__(self, alpha: float) -> None:
        self.log_alpha = Parameter(np.array([math.log(alpha)], dtype=np.float64))

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("log_alpha", self.log_alpha)]


class SAC:
    """Soft Actor-Critic for bounded 1-D ``Box`` actions and vector observations (a ``Box``,
    ``Discrete``, ``MultiDiscrete``, ``MultiBinary`` or a ``Dict``/``Tuple`` of those, encoded by
    :class:`~agents.spaces.ObservationEncoder`; optionally normalized, :mod:`agents.normalization`).

    ``total_steps`` (the run's length in env steps) matters only to the "linear" learning-rate
    schedule: with it, a custom loop must give ``SAC(..., total_steps=N)`` or set
    ``agent.total_steps`` before ``on_step``, else that is a one-line ``ValueError``
    (:mod:`agents.run_length`); the training loop sets it."""

    algo = "sac"
    label = "SAC"                  # in error messages
    Config = SACConfig
    metric_names = ("critic_loss", "actor_loss", "ent_coef", "ent_coef_loss", "q_mean")
    total_steps = RunLength()

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: SACConfig | dict | None = None, seed: int | None = 0, total_steps: int | None = None) -> None:
        cls = type(self).Config
        self.config = config if isinstance(config, cls) else config_from_dict(cls, config or {})
        self.encoder = ObservationEncoder(observation_space, self.label)
        self.obs_dim, self.act_dim = check_continuous_spaces(observation_space, action_space, self.label)
        self.observation_space, self.action_space = observation_space, action_space
        c = self.config
        self.dtype = np.dtype(c.dtype)
        self.rng = np.random.default_rng(seed)
        self.scaler = ActionScaler(action_space, self.dtype)
        self._build_networks()
        self.learn_alpha, alpha0 = c.parse_ent_coef()
        self.temperature = Temperature(alpha0)
        self.alpha_optimizer = Adam(self.temperature.parameters(), lr=c.learning_rate)
        self.target_entropy = float(-self.act_dim if c.target_entropy is None else c.target_entropy)
        self.normalization = Normalization(self.obs_dim, c)
        self.exploration_noise = exploration_noise(c, self.act_dim, self.dtype)
        self.n_updates = 0
        self.total_steps = total_steps

    def _build_networks(self) -> None:
        """The actor, the critics (with targets) and the actor's optimiser (CrossQ builds its own)."""
        c = self.config
        self.actor = mlp([self.obs_dim, *c.net_arch, 2 * self.act_dim], c.activation, self.rng, self.dtype)
        self.critics = Critics(self.obs_dim, self.act_dim, c.net_arch, c.n_critics, c.activation, self.rng,
                               self.dtype, c.learning_rate)
        self.actor_optimizer = Adam(self.actor.parameters(), lr=c.learning_rate)

    @property
    def log_alpha(self) -> Parameter:
        return self.temperature.log_alpha

    @property
    def alpha(self) -> float:
        return math.exp(float(self.log_alpha.value[0]))

    # -- the policy --------------------------------------------------------------------------
    def policy(self, obs: np.ndarray, eps: np.ndarray | None = None) -> PolicySample:
        """Forward the actor on ``obs`` ``(B, obs_dim)`` and squash a reparameterised sample
        (``eps`` ``(B, d)`` drawn from the agent's RNG when not given)."""
        d = self.act_dim
        out = self.actor(obs)
        mean, log_std = out[:, :d], out[:, d:]
        inside = (log_std > LOG_STD_MIN) & (log_std < LOG_STD_MAX)
        log_std = np.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)
        std = np.exp(log_std)
        if eps is None:
            eps = self.rng.standard_normal(mean.shape, dtype=self.dtype)
        u = std * eps
        u += mean
        # log(1 − tanh² u) = 2 (log 2 − u − softplus(−2u))
        log_jac = np.logaddexp(0.0, -2.0 * u)
        log_jac += u
        log_jac -= math.log(2.0)
        per_dim = log_jac
        per_dim *= 2.0                            # = −log(1 − tanh² u)
        per_dim -= log_std
        per_dim -= 0.5 * eps * eps
        log_prob = per_dim.sum(axis=1) - d * HALF_LOG_2PI
        return PolicySample(np.tanh(u), log_prob, std, eps, inside)

    def policy_backward(self, sample: PolicySample, grad_action: np.ndarray | None, grad_log_prob: np.ndarray | float,
                        accumulate: bool = True) -> None:
        """Add ``dL/dθ_actor`` to the actor's ``.grad`` (write it over, with ``accumulate=False``)
        given ``dL/da`` ``(B, d)`` (a = tanh u, or ``None`` for zero) and ``dL/dlog π`` (``(B,)``
        or a scalar), for the last :meth:`policy` call."""
        a = sample.action
        g_lp = np.asarray(grad_log_prob, dtype=a.dtype)
        g_lp = g_lp[:, None] if g_lp.ndim == 1 else g_lp
        g_u = 2.0 * a * g_lp                      # d(−log(1 − tanh² u))/du = 2 tanh u
        if grad_action is not None:
            g_u += grad_action * (1.0 - a * a)
        g_log_std = g_u * sample.std
        g_log_std *= sample.eps
        g_log_std -= g_lp                          # d(−log σ)/dℓ = −1
        g_log_std *= sample.inside
        self.actor.backward(np.concatenate([g_u, g_log_std], axis=1), input_grad=False, accumulate=accumulate)

    # -- acting ------------------------------------------------------------------------------
    def predict(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Action(s) in the environment's units for raw observations of the env (or rows
        :meth:`encode` made): ``(act_dim,)`` for one observation, ``(B, act_dim)`` for a batch.
        Deterministic means ``tanh(μ)``; otherwise a policy sample. The observation statistics
        are applied, never updated. SB3's name, but SB3's ``predict`` returns ``(action, state)``
        and this the action(s) only. ``act`` is the same method."""
        return self._actions(obs, deterministic)

    act = predict

    def _actions(self, obs: Any, deterministic: bool, noise: ColoredNoise | None = None) -> np.ndarray:
        """:meth:`predict`, with the sample's ``ε`` taken from ``noise`` when given (else white)."""
        obs = self.normalization.observations(self.encode(obs))
        batch = obs if obs.ndim == 2 else obs[None]
        if deterministic:
            unit = np.tanh(self.actor.predict(batch)[:, :self.act_dim])
        else:
            unit = self.policy(batch, None if noise is None else noise.sample(len(batch), self.rng)).action
        actions = np.clip(self.scaler.to_env(unit), self.scaler.low, self.scaler.high).astype(np.float32)
        return actions if obs.ndim == 2 else actions[0]

    def encode(self, obs: Any) -> np.ndarray:
        """Raw observation(s) as the flat float32 rows the networks and the replay memory take
        (:class:`~agents.spaces.ObservationEncoder`; rows already encoded pass through)."""
        return self.encoder.encode(obs)

    def explore(self, obs: Any, step: int) -> np.ndarray:
        """Uniform random actions before ``learning_starts``, policy samples afterwards (``ε``
        pink or colored with ``noise_type``, :mod:`agents.noise`; row ``i`` is sub-env ``i``):
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

    # -- losses (each fills the gradients it names) ------------------------------------------
    def td_target(self, batch: Batch, alpha: float, eps: np.ndarray | None = None) -> np.ndarray:
        """``y = r + γ^k (1 − terminated) (min_i Q'_i(s', a') − α log π(a'|s'))``, shape ``(B,)``,
        with ``a'`` the policy's sample on ``s'`` for noise ``eps``."""
        nxt = self.policy(batch.next_obs, eps)
        q_next = self.critics.target_min(batch.next_obs, self.scaler.to_env(nxt.action))
        q_next -= alpha * nxt.log_prob
        not_done = batch.discount * (1.0 - batch.terminated)
        return batch.rewards + not_done.astype(self.dtype) * q_next

    def actor_loss(self, obs: np.ndarray, alpha: float, sample: PolicySample | None = None,
                   eps: np.ndarray | None = None, backward: bool = True, weight: float = 1.0) -> float:
        """``L_π`` for ``sample`` (a fresh :meth:`policy` pass on ``obs`` with ``eps`` if None);
        fills the actor's ``.grad`` (zeroed first) unless ``backward=False``. The critics' ``.grad``
        are never touched. ``sample`` must be the actor's latest forward pass. Loss and gradient
        are times ``weight`` (these rows' share of the batch)."""
        sample = self.policy(obs, eps) if sample is None else sample
        batch = obs.shape[0]
        per_row = weight / batch                  # 1 / B of the whole batch
        q = self.critics.forward(obs, self.scaler.to_env(sample.action))
        smallest = q.argmin(axis=0)
        loss = weight * float(np.mean(alpha * sample.log_prob - q[smallest, np.arange(batch)]))
        if backward:
            grad_q = np.zeros_like(q)
            grad_q[smallest, np.arange(batch)] = -per_row
            grad_action = self.critics.action_grad(grad_q)
            grad_action *= self.scaler.scale
            self.policy_backward(sample, grad_action, alpha * per_row, accumulate=False)
        return loss

    def alpha_loss(self, log_prob: np.ndarray, weight: float = 1.0) -> float:
        """``L_α = −log α · mean(log π + H̄)``; sets ``log_alpha.grad``; both times ``weight``."""
        gap = weight * (float(np.mean(log_prob)) + self.target_entropy)
        self.log_alpha.grad[0] = -gap
        return -float(self.log_alpha.value[0]) * gap

    # -- one update --------------------------------------------------------------------------
    def prepare(self, batches: list[Batch]) -> list[Batch]:
        """Each batch with its update's noise ``(B, 2, d)``: ``ε`` for the pass on ``s'``, then
        for the pass on ``s``, drawn from the agent's RNG in that order; observations normalized
        and rewards scaled first when the config asks (:mod:`agents.normalization`)."""
        batches = self.normalization.batches(batches)
        shape = (len(batches[0]), self.act_dim)
        out = []
        for batch in batches:
            eps_next = self.rng.standard_normal(shape, dtype=self.dtype)
            eps = self.rng.standard_normal(shape, dtype=self.dtype)
            out.append(Batch(batch.obs, batch.actions, batch.rewards, batch.next_obs, batch.terminated,
                             batch.discount, np.stack([eps_next, eps], axis=1)))
        return out

    def train_round(self, batches: list[Batch], reducer: Reducer = SERIAL) -> list[dict[str, float]]:
        """One update of the critics, the actor and the temperature per batch (SB3's order, α
        read once at the start of each), on the rows this process is given."""
        c, share = self.config, reducer.share
        results = []
        for batch in batches:
            alpha = self.alpha
            target = self.td_target(batch, alpha, batch.noise[:, 0])
            sample = self.policy(batch.obs, batch.noise[:, 1])
            metrics = {"ent_coef": share * alpha}
            if self.learn_alpha:
                metrics["ent_coef_loss"] = self.alpha_loss(sample.log_prob, share)
            metrics["critic_loss"], q = self.critics.loss_backward(batch.obs, batch.actions, target, share)
            self.n_updates += 1
            move = self.n_updates % c.target_update_interval == 0
            reducer.step(self.critics.optimizers, targets=self.critics.target_pairs(c.tau) if move else ())
            metrics["actor_loss"] = self.actor_loss(batch.obs, alpha, sample, weight=share)
            reducer.step([self.actor_optimizer, self.alpha_optimizer] if self.learn_alpha else [self.actor_optimizer])
            metrics["q_mean"] = share * float(q.mean())
            results.append(metrics)
        return results

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One update on a minibatch, in this process."""
        return self.train_round(self.prepare([batch]))[0]

    def on_step(self, step: int) -> None:
        """The learning-rate schedule (targets move with the gradient steps)."""
        self.set_learning_rate(self.config.learning_rate_at(step, self.total_steps))

    def set_learning_rate(self, lr: float) -> None:
        for opt in (self.actor_optimizer, *self.critics.optimizers, self.alpha_optimizer):
            opt.lr = lr

    # -- checkpoints -------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"actor": self.actor, **self.critics.modules()}

    def parallel_modules(self) -> list[tuple[Module, Optimizer | None]]:
        """The networks a row split shares between processes, with their optimisers."""
        return [(self.actor, self.actor_optimizer), *self.critics.parallel_modules(),
                (self.temperature, self.alpha_optimizer)]

    def _optimizers(self) -> dict[str, Any]:
        return {"actor": self.actor_optimizer, **self.critics.named_optimizers(), "alpha": self.alpha_optimizer}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state(self._modules(), self._optimizers())
        arrays["log_alpha"] = self.log_alpha.value.copy()
        return with_agent_state(self, arrays, meta, learning_rate=self.actor_optimizer.lr)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, self._modules(), self._optimizers())
        self.log_alpha.value = np.asarray(arrays["log_alpha"], dtype=np.float64).reshape(1)
        restore_agent_state(self, arrays, meta)
        self.set_learning_rate(float(meta.get("learning_rate", self.config.learning_rate)))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> SAC:
        return rebuild_agent(cls, arrays, meta)
