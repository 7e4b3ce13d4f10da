"""Proximal Policy Optimization (Schulman et al. 2017), and A2C (Mnih et al. 2016) as a
configuration of it, on ``rlnn`` networks, every gradient by hand.

Networks (Stable-Baselines3's ``MlpPolicy``): an actor ``MLP([obs_dim, *net_arch, k])`` and a
critic ``MLP([obs_dim, *net_arch, 1])``, or with ``share_net`` one trunk ``MLP([obs_dim, *net_arch])``
under a linear policy head and a linear value head; tanh; orthogonal initialisation with gain √2
(hidden layers), 0.01 (policy head: a near-uniform first policy) and 1 (value head), or with
``ortho_init=False`` PyTorch's default, U(±1/√fan_in) for weights and biases. Policies::

    Discrete(k)   categorical   π(a|s) = softmax(z)_a,  z = actor(s)
    Box(d)        Gaussian      N(μ, diag σ²),  μ = actor(s),  log σ = ℓ, a parameter of its own

A Gaussian action goes to the env clipped to the space; the unclipped sample and its
log-probability are what the rollout keeps and the update trains on (as in SB3). The update, for
each of ``n_epochs`` a fresh permutation of the rollout in minibatches of ``batch_size``, takes
one gradient step per minibatch on ``L = L_π + vf_coef L_V + ent_coef L_H``, the gradients
clipped to a global norm of ``max_grad_norm``: the clipped surrogate, the (optionally clipped)
value loss and the entropy bonus, whose formulas and hand-derived gradients are in
:mod:`agents.ppo_losses`. A2C is one epoch on the whole rollout without clipping.

Speed (a minibatch of 64 rows is mostly Python and numpy call overhead, so the update makes few
calls; every number is the same as the formulas computed step by step): each pass gathers the
shuffled rollout once and its minibatches are slices of it; the advantages and the metrics are
computed a pass or an update at a time (:mod:`agents.ppo_losses`); actor, critic (and ``log σ``)
share one parameter vector (:func:`rlnn.module.pack_together`), which the optimiser steps in one
go, the clip's scale applied as it reads the gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from gymnasium import spaces

from rlnn.init import fan_in_uniform, orthogonal
from rlnn.layers import MLP, Linear
from rlnn.module import Module, pack_together
from rlnn.optim import Adam, RMSProp, clip_scale

from .checkpoint import pack_state, rebuild_agent, restore_agent_state, unpack_state, with_agent_state
from .config import config_from_dict
from .distributions import Categorical, DiagGaussian, LogStd
from .normalization import Normalization
from .ppo_losses import (LOSS_METRIC_NAMES, LossTerms, clipped_surrogate, normalized_advantages, update_metrics,
                         value_loss)
from .run_length import RunLength
from .spaces import ObservationEncoder

RMSPROP_ALPHA = 0.99          # SB3's A2C (PyTorch's RMSprop with alpha=0.99)


@dataclass
class PPOConfig:
    """PPO hyperparameters (names, meanings and defaults as in Stable-Baselines3)."""
    learning_rate: float = 3e-4
    learning_rate_schedule: str = "constant"
    """"constant", or "linear": ``learning_rate × (1 − step / total_steps)`` at each update (zoo: ``lin_``)."""
    n_steps: int = 2048
    """Vector steps per rollout; a rollout holds ``n_steps × n_envs`` transitions."""
    batch_size: int | None = 64
    """Transitions per minibatch (None: the whole rollout)."""
    n_epochs: int = 10
    """Passes over each rollout."""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float | None = 0.2
    """ε of the clipped surrogate (None: no clipping)."""
    clip_range_schedule: str = "constant"
    """"constant" or "linear", as ``learning_rate_schedule``."""
    clip_range_vf: float | None = None
    """ε_V of the value clipping, in the value's units (None: off)."""
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    """Global gradient-norm clip (0: off)."""
    target_kl: float | None = None
    """Stop an update's epochs once a minibatch's approximate KL exceeds 1.5 × this (None: never)."""
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer widths, of the actor and of the critic (or of their shared trunk)."""
    share_net: bool = False
    """One trunk under both heads instead of separate actor and critic networks."""
    activation: str = "tanh"
    ortho_init: bool = True
    """Orthogonal initialisation (gains √2, 0.01, 1); else PyTorch's ``nn.Linear`` default, what SB3
    then keeps: weights and biases from U(±1/√fan_in) (``rlnn.init.fan_in_uniform``)."""
    log_std_init: float = 0.0
    """Initial log σ of a Gaussian policy."""
    optimizer: str = "adam"
    """"adam" or "rmsprop" (α = 0.99), one optimiser over every parameter."""
    optimizer_eps: float = 1e-5
    """ε of the optimiser (SB3: Adam's in PPO, ``rms_prop_eps`` in A2C)."""
    n_envs: int = 1
    """Environments stepped together; steps count transitions of all of them."""
    vec_env: str = "sync"
    """With ``n_envs > 1``: "sync" (one process) or "async" (a process per env)."""
    normalize_observations: bool = False
    """Standardise observations by running statistics (:mod:`agents.normalization`), saved with the agent."""
    normalize_rewards: bool = False
    """Scale rewards by the running std of the discounted return (SB3's ``VecNormalize``, :mod:`agents.rollout`)."""
    normalize_clip: float = 10.0
    dtype: str = "float32"
    """Network dtype ("float64" for gradient checks)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        from rlnn.activations import ACTIVATIONS

        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ValueError(f"config key {key!r} must be {what}, got {getattr(self, key)!r}")

        for key in ("n_steps", "n_epochs", "n_envs"):
            need(getattr(self, key) >= 1, key, "at least 1")
        need(self.batch_size is None or self.batch_size >= 1, "batch_size", "at least 1 (or None: the whole rollout)")
        need(math.isfinite(self.learning_rate) and self.learning_rate > 0, "learning_rate", "a positive number")
        for key in ("learning_rate_schedule", "clip_range_schedule"):
            need(getattr(self, key) in ("constant", "linear"), key, "'constant' or 'linear'")
        for key in ("gamma", "gae_lambda"):
            need(0 <= getattr(self, key) <= 1, key, "in [0, 1]")
        for key in ("clip_range", "clip_range_vf", "target_kl"):
            value = getattr(self, key)
            need(value is None or (math.isfinite(value) and value > 0), key, "a positive number or None (off)")
        for key in ("ent_coef", "vf_coef", "max_grad_norm", "log_std_init"):
            need(math.isfinite(getattr(self, key)), key, "a finite number")
        need(self.vf_coef >= 0, "vf_coef", ">= 0")
        need(self.max_grad_norm >= 0, "max_grad_norm", ">= 0 (0: off)")
        need(bool(self.net_arch) and min(self.net_arch) >= 1, "net_arch", "a list of positive layer widths")
        need(self.activation in ACTIVATIONS, "activation", f"one of {sorted(ACTIVATIONS)}")
        need(self.optimizer in ("adam", "rmsprop"), "optimizer", "'adam' or 'rmsprop'")
        need(math.isfinite(self.optimizer_eps) and self.optimizer_eps > 0, "optimizer_eps", "a positive number")
        need(self.vec_env in ("sync", "async"), "vec_env", "'sync' or 'async'")
        need(self.dtype in ("float32", "float64"), "dtype", "'float32' or 'float64'")

    def schedule(self, name: str, step: int, total_steps: int) -> float:
        """``learning_rate`` or ``clip_range`` at env step ``step`` (linear: falling to 0 at ``total_steps``)."""
        value = getattr(self, name)
        return value * max(0.0, 1.0 - step / total_steps) if getattr(self, f"{name}_schedule") == "linear" else value


@dataclass
class A2CConfig(PPOConfig):
    """A2C = PPO with one epoch on the whole rollout, no clipping, RMSProp (SB3's A2C defaults)."""
    learning_rate: float = 7e-4
    n_steps: int = 5
    batch_size: int | None = None
    n_epochs: int = 1
    gae_lambda: float = 1.0
    clip_range: float | None = None
    normalize_advantage: bool = False
    optimizer: str = "rmsprop"



def _linears(net: Module | None) -> list[Linear]:
    """The linear layers of one of PPO's networks: an ``MLP``'s, a lone ``Linear`` head, none."""
    if net is None:
        return []
    return [net] if isinstance(net, Linear) else net.linears


@dataclass(slots=True)
class Sample:
    """What ``explore`` drew for a batch of observations: the rows the policy saw ``(n, obs_dim)``,
    the actions as sampled, their log-probabilities and the values ``(n,)``."""
    obs: np.ndarray
    actions: np.ndarray
    log_prob: np.ndarray
    values: np.ndarray


class PPO:
    """PPO (A2C by configuration) for ``Discrete`` or 1-D ``Box`` actions and vector observations
    (:class:`~agents.spaces.ObservationEncoder`; optionally normalized). Trained by
    :class:`agents.on_policy.OnPolicyTrainer`, which sets ``total_steps`` (what the linear
    schedules count against)."""

    algo = "ppo"
    Config = PPOConfig
    metric_names = (*LOSS_METRIC_NAMES, "explained_variance")
    total_steps = RunLength(("the 'linear' clip_range_schedule", lambda c: c.clip_range_schedule == "linear"))

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: PPOConfig | dict | None = None, seed: int | None = 0, total_steps: int | None = None) -> None:
        self.config = c = config if isinstance(config, self.Config) else config_from_dict(self.Config, config or {})
        self.encoder = ObservationEncoder(observation_space, self.algo.upper())
        self.obs_dim = self.encoder.dim
        self.observation_space, self.action_space = observation_space, action_space
        self.dtype = np.dtype(c.dtype)
        if isinstance(action_space, spaces.Discrete):
            self.discrete, out_dim, self.action_shape, self.action_dtype = True, int(action_space.n), (), np.int64
        elif isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
            self.discrete, out_dim, self.action_shape = False, action_space.shape[0], action_space.shape
            self.action_dtype = self.dtype
            self.low, self.high = action_space.low.astype(np.float32), action_space.high.astype(np.float32)
        else:
            raise ValueError(f"{self.algo.upper()} needs a Discrete or 1-D Box action space, got {action_space}")
        self.rng = np.random.default_rng(seed)
        hidden = partial(orthogonal, gain=math.sqrt(2)) if c.ortho_init else "fan_in_uniform"
        head = "xavier_uniform" if c.ortho_init else "fan_in_uniform"      # an orthogonal head is drawn below
        sizes = [self.obs_dim, *c.net_arch]
        if c.share_net:
            self.trunk = MLP(sizes, c.activation, output_activation=c.activation, init=hidden, rng_or_seed=self.rng,
                             dtype=self.dtype)
            self.actor = Linear(sizes[-1], out_dim, init=head, rng_or_seed=self.rng, dtype=self.dtype)
            self.critic = Linear(sizes[-1], 1, init=head, rng_or_seed=self.rng, dtype=self.dtype)
        else:
            self.trunk = None
            self.actor = MLP([*sizes, out_dim], c.activation, init=hidden, rng_or_seed=self.rng, dtype=self.dtype)
            self.critic = MLP([*sizes, 1], c.activation, init=hidden, rng_or_seed=self.rng, dtype=self.dtype)
        if c.ortho_init:
            for net, gain in ((self.actor, 0.01), (self.critic, 1.0)):
                last = _linears(net)[-1]
                last.weight.value = orthogonal(last.weight.shape, self.rng, self.dtype, gain=gain)
        else:            # PyTorch's nn.Linear draws its biases from U(±1/√fan_in) as well
            for linear in (linear for net in (self.trunk, self.actor, self.critic) for linear in _linears(net)):
                linear.bias.value = fan_in_uniform((linear.in_features, linear.out_features), self.rng,
                                                   self.dtype)[0]
        self.log_std = None if self.discrete else LogStd(out_dim, c.log_std_init, self.dtype)
        self._grad_parts = pack_together(list(self._modules().values()))
        params = [p for m in self._modules().values() for p in m.parameters()]
        self.optimizer = (Adam(params, lr=c.learning_rate, eps=c.optimizer_eps) if c.optimizer == "adam" else
                          RMSProp(params, lr=c.learning_rate, alpha=RMSPROP_ALPHA, eps=c.optimizer_eps))
        self.normalization = Normalization(self.obs_dim, c)
        self.last_sample: Sample | None = None
        self.n_updates = 0
        self.total_steps = total_steps

    # -- the networks --------------------------------------------------------------------------
    def _forward(self, obs: np.ndarray, cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``(policy head output (B, k), values (B,))``; ``cache=False`` writes no forward cache."""
        run = (lambda net, x: net(x)) if cache else (lambda net, x: net.predict(x))
        x = obs if self.trunk is None else run(self.trunk, obs)
        return run(self.actor, x), run(self.critic, x)[:, 0]

    def _backward(self, g_out: np.ndarray, g_values: np.ndarray) -> None:
        """Write ``dL/dθ`` into every network's ``.grad`` for the last cached :meth:`_forward`."""
        shared = self.trunk is not None
        g_x = self.actor.backward(g_out, input_grad=shared, accumulate=False)
        g_v = self.critic.backward(g_values[:, None], input_grad=shared, accumulate=False)
        if shared:
            self.trunk.backward(g_x + g_v, input_grad=False, accumulate=False)

    def distribution(self, out: np.ndarray) -> Categorical | DiagGaussian:
        return Categorical(out) if self.discrete else DiagGaussian(out, self.log_std.log_std.value)

    def values(self, obs: Any) -> np.ndarray:
        """``V(s)`` ``(B,)`` of raw observations (or encoded rows), normalized as the policy sees them."""
        rows = self.normalization.observations(self.encode(obs))
        x = rows if self.trunk is None else self.trunk.predict(rows)
        return self.critic.predict(x)[:, 0]

    # -- acting --------------------------------------------------------------------------------
    def predict(self, obs: Any, deterministic: bool = True) -> Any:
        """The action for one raw observation (an int, or ``(d,)`` float32 clipped to the space),
        or the actions ``(B,)`` / ``(B, d)`` for a batch: the mode of the policy (``deterministic``)
        or a sample. The normalization statistics are applied, never updated. ``act`` is the same."""
        rows = self.normalization.observations(self.encode(obs))
        batch = rows if rows.ndim == 2 else rows[None]
        x = batch if self.trunk is None else self.trunk.predict(batch)
        dist = self.distribution(self.actor.predict(x))
        actions = self._to_env(dist.mode() if deterministic else dist.sample(self.rng))
        return actions if rows.ndim == 2 else (int(actions[0]) if self.discrete else actions[0])

    act = predict

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        if self.discrete:
            return np.add(actions, int(self.action_space.start), dtype=np.int64)
        return np.clip(actions, self.low, self.high).astype(np.float32, copy=False)   # a fresh array already

    def encode(self, obs: Any) -> np.ndarray:
        """Raw observation(s) as flat float32 rows (:class:`~agents.spaces.ObservationEncoder`)."""
        return self.encoder.encode(obs)

    def explore(self, obs: Any, step: int = 0) -> Any:
        """A policy sample for one observation or a batch, as the env takes it (clipped); the
        observations are counted in the normalization statistics, and what the rollout keeps
        (the rows the policy saw, the unclipped samples, their log-probabilities, the values) is
        left in ``last_sample``."""
        rows = self.encode(obs)
        batch = rows if rows.ndim == 2 else rows[None]
        self.normalization.observe(batch)
        x = self.normalization.observations(batch).astype(self.dtype, copy=False)
        out, values = self._forward(x, cache=False)
        dist = self.distribution(out)
        actions = dist.sample(self.rng)
        self.last_sample = Sample(x, actions, dist.log_prob(actions), values)
        env_actions = self._to_env(actions)
        return env_actions if rows.ndim == 2 else (int(env_actions[0]) if self.discrete else env_actions[0])

    # -- the update ----------------------------------------------------------------------------
    def loss_backward(self, batch: Any, clip_range: float | None) -> LossTerms:
        """``L`` on a :class:`~agents.rollout.RolloutBatch` (its advantages as the loss takes them:
        :meth:`train_on` normalizes them first), its gradients written into ``.grad``; returns
        the per-row terms (:func:`update_metrics` makes the losses and diagnostics of them)."""
        c = self.config
        out, values = self._forward(batch.obs)
        dist = self.distribution(out)
        log_ratio = dist.log_prob(batch.actions) - batch.log_probs
        surrogate, g_log_prob, ratio = clipped_surrogate(log_ratio, batch.advantages, clip_range)
        error, g_values = value_loss(values, batch.values, batch.returns, c.clip_range_vf)
        g_out, g_log_std = dist.backward(batch.actions, g_log_prob, np.full(len(ratio), -c.ent_coef / len(ratio)))
        self._backward(g_out, c.vf_coef * g_values)
        if g_log_std is not None:
            self.log_std.log_std.grad = g_log_std
        return LossTerms(surrogate, error, dist.entropy(), log_ratio, ratio)

    def train_on(self, rollout: Any, step: int) -> dict[str, float]:
        """The update on a finished :class:`~agents.rollout.RolloutBuffer` collected by env step
        ``step``: ``n_epochs`` passes of minibatches, each one gradient step; the metrics are means
        over the minibatches."""
        c = self.config
        self.optimizer.lr = c.schedule("learning_rate", step, self.total_steps)
        clip_range = None if c.clip_range is None else c.schedule("clip_range", step, self.total_steps)
        taken: list[LossTerms] = []          # the steps made, whose terms become the metrics
        too_far = False
        for _ in range(c.n_epochs):
            rows = rollout.epoch(c.batch_size, self.rng)
            if c.normalize_advantage:        # per minibatch, all of the pass's at once
                rows.advantages = normalized_advantages(rows.advantages, c.batch_size)
            for batch in rows.split(c.batch_size):
                terms = self.loss_backward(batch, clip_range)
                too_far = c.target_kl is not None and \
                    update_metrics([terms], clip_range)["approx_kl"] > 1.5 * c.target_kl
                if too_far:                  # as SB3: this step is not taken and the update ends
                    break
                self._step()
                taken.append(terms)
            if too_far:
                break
        returns, values = rollout.returns.ravel(), rollout.values.ravel()
        spread = float(np.var(returns))
        explained = 0.0 if spread == 0 else 1.0 - float(np.var(returns - values)) / spread   # SB3: NaN
        return {**update_metrics(taken, clip_range), "explained_variance": explained}

    def _step(self) -> None:
        """One optimiser step on the gradients of :meth:`loss_backward`, clipped to a global norm
        of ``max_grad_norm`` (the clip's scale applied as the step reads them)."""
        max_norm = self.config.max_grad_norm
        scale = 1.0
        if max_norm > 0:
            scale = clip_scale(math.sqrt(sum(float(np.vdot(g, g)) for g in self._grad_parts)), max_norm)
        self.optimizer.step(scale)
        self.n_updates += 1

    # -- checkpoints ---------------------------------------------------------------------------
    def _modules(self) -> dict[str, Module]:
        named = {"trunk": self.trunk, "actor": self.actor, "critic": self.critic, "log_std": self.log_std}
        return {name: module for name, module in named.items() if module is not None}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state(self._modules(), {"policy": self.optimizer})
        return with_agent_state(self, arrays, meta, learning_rate=self.optimizer.lr)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, self._modules(), {"policy": self.optimizer})
        restore_agent_state(self, arrays, meta)
        self.optimizer.lr = float(meta.get("learning_rate", self.config.learning_rate))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> PPO:
        return rebuild_agent(cls, arrays, meta)


class A2C(PPO):
    """A2C: :class:`PPO` with :class:`A2CConfig` defaults (one epoch on the whole rollout, no
    clipping, RMSProp, ``n_steps`` 5)."""

    algo = "a2c"
    Config = A2CConfig
