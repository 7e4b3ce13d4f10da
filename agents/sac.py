"""Soft Actor-Critic (Haarnoja et al. 2018) on ``rlnn`` networks, every gradient by hand.

Networks: an actor ``MLP([obs_dim, *net_arch, 2 d])`` whose output is ``(μ, ℓ)`` (mean and raw
log-std, ``d = act_dim``), twin critics ``Q_i([s, a])`` with Polyak-averaged targets, and a
learned temperature ``α = exp(log α)``.

Policy (tanh-squashed Gaussian, reparameterised with ``ε ~ N(0, I)`` held fixed)::

    σ = exp(clip(ℓ, LOG_STD_MIN, LOG_STD_MAX))     u = μ + σ ε      a = tanh(u) ∈ [-1, 1]^d
    log π(a|s) = Σ_j [ −ε_j²/2 − log σ_j − log(2π)/2 − log(1 − tanh² u_j) ]
    log(1 − tanh² u) = 2 (log 2 − u − softplus(−2u))      (exact, never log 0)

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

import rlnn
from rlnn.module import Parameter
from rlnn.optim import Adam

from .actor_critic import ActionScaler, Critics, check_continuous_spaces, mlp
from .checkpoint import pack_state, unpack_state
from .config import config_from_dict, config_to_dict
from .forked import ForkedLane, SharedNet, can_split, rows_area, shared_array, write_rows
from .lanes import Lanes
from .replay import Batch
from .spaces import as_observation, space_from_json, space_to_json

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class SACConfig:
    """SAC hyperparameters (names, meanings and defaults as in Stable-Baselines3)."""
    learning_rate: float = 3e-4
    """Adam step size for the actor, the critics and the temperature."""
    buffer_size: int = 1_000_000
    """Replay memory capacity (transitions)."""
    learning_starts: int = 100
    """Env steps of uniformly random actions before the first update."""
    batch_size: int = 256
    """Transitions per gradient step."""
    tau: float = 0.005
    """Polyak coefficient of the target critics: θ' ← (1 − τ) θ' + τ θ."""
    gamma: float = 0.99
    """Discount factor."""
    train_freq: int = 1
    """Env steps between training rounds."""
    gradient_steps: int = 1
    """Gradient steps per training round."""
    ent_coef: str | float = "auto"
    """Temperature α: a number (fixed), "auto" (learned, starting at 1) or "auto_<init>" (learned from <init>)."""
    target_entropy: float | None = None
    """Entropy target H̄ of the learned temperature; None means −act_dim."""
    target_update_interval: int = 1
    """Gradient steps between target-critic updates."""
    n_critics: int = 2
    """Number of Q-networks (the target uses their minimum)."""
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden layer widths of the actor and of each critic."""
    activation: str = "relu"
    """Hidden activation."""
    n_step: int = 1
    """n-step returns."""
    dtype: str = "float32"
    """Network dtype ("float64" for gradient checks)."""

    def validate(self) -> None:
        for name in ("buffer_size", "batch_size", "train_freq", "gradient_steps", "target_update_interval",
                     "n_critics", "n_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"config key 'tau' must lie in (0, 1], got {self.tau}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"config key 'dtype' must be 'float32' or 'float64', got {self.dtype!r}")
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


_SPLIT_SUMS = ("critic_loss", "actor_loss")   # metrics the two processes' parts add up to


@dataclass
class _Split:
    """Shared memory of :meth:`SAC._train_round_split`."""
    half: int                          # this process's rows: 0 .. half
    nets: dict[str, SharedNet]         # actor and critics
    targets: list[SharedNet]           # the target critics, in the critics' order
    inputs: dict[str, np.ndarray]      # the worker's rows of each batch: (steps, B − half, ...)
    noise: np.ndarray                  # (steps, 2, B − half, d): the worker's ε for s' and for s
    outputs: np.ndarray                # (steps, 4): the worker's critic loss, actor loss, sum of Q, sum of log π
    alpha: np.ndarray                  # (1,): the temperature the next update reads


class SAC:
    """Soft Actor-Critic for ``Box`` observations and bounded ``Box`` actions."""

    algo = "sac"
    Config = SACConfig
    metric_names = ("critic_loss", "actor_loss", "ent_coef", "ent_coef_loss", "q_mean")

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: SACConfig | dict | None = None, seed: int | None = 0) -> None:
        self.config = config if isinstance(config, SACConfig) else config_from_dict(SACConfig, config or {})
        self.obs_dim, self.act_dim = check_continuous_spaces(observation_space, action_space, "SAC")
        self.observation_space, self.action_space = observation_space, action_space
        c = self.config
        self.dtype = np.dtype(c.dtype)
        self.rng = np.random.default_rng(seed)
        self.scaler = ActionScaler(action_space, self.dtype)
        self.actor = mlp([self.obs_dim, *c.net_arch, 2 * self.act_dim], c.activation, self.rng, self.dtype)
        # A second handle on the actor (same parameters, own forward cache): the passes on s'
        # and on s can then run side by side when the agent has two lanes.
        self._actor_replica = self.actor.replica()
        self.critics = Critics(self.obs_dim, self.act_dim, c.net_arch, c.n_critics, c.activation, self.rng,
                               self.dtype, c.learning_rate)
        self.actor_optimizer = Adam(self.actor.parameters(), lr=c.learning_rate)
        self.learn_alpha, alpha0 = c.parse_ent_coef()
        self.log_alpha = Parameter(np.array([math.log(alpha0)], dtype=np.float64))
        self.alpha_optimizer = Adam([self.log_alpha], lr=c.learning_rate)
        self.target_entropy = float(-self.act_dim if c.target_entropy is None else c.target_entropy)
        self.n_updates = 0
        self.total_steps = 1
        self._split: _Split | None = None   # shared memory of the row-split rounds, made on first use

    @property
    def alpha(self) -> float:
        return math.exp(float(self.log_alpha.value[0]))

    # -- the policy --------------------------------------------------------------------------
    @property
    def lanes(self) -> Lanes:
        """Threads for work that can run side by side (``lanes.set_workers(2)``)."""
        return self.critics.lanes

    def policy(self, obs: np.ndarray, eps: np.ndarray | None = None, actor: rlnn.Module | None = None,
               ) -> PolicySample:
        """Forward the actor (or a replica of it) on ``obs`` ``(B, obs_dim)`` and squash a
        reparameterised sample (``eps`` ``(B, d)`` drawn from the agent's RNG when not given)."""
        d = self.act_dim
        out = (self.actor if actor is None else actor)(obs)
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
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Action(s) in the environment's units: ``(act_dim,)`` for one observation, ``(B, act_dim)``
        for a batch. Deterministic means ``tanh(μ)``; otherwise a policy sample."""
        obs = as_observation(obs, self.obs_dim)
        batch = obs if obs.ndim == 2 else obs[None]
        if deterministic:
            unit = np.tanh(self.actor.predict(batch)[:, :self.act_dim])
        else:
            unit = self.policy(batch).action
        actions = np.clip(self.scaler.to_env(unit), self.scaler.low, self.scaler.high).astype(np.float32)
        return actions if obs.ndim == 2 else actions[0]

    def explore(self, obs: np.ndarray, step: int) -> np.ndarray:
        """Uniform random actions before ``learning_starts``, policy samples afterwards."""
        if step < self.config.learning_starts:
            return self.rng.uniform(self.scaler.low, self.scaler.high).astype(np.float32)
        return self.act(obs, deterministic=False)

    # -- losses (each fills the gradients it names) ------------------------------------------
    def td_target(self, batch: Batch, alpha: float, eps: np.ndarray | None = None,
                  nxt: PolicySample | None = None, serial: bool = False) -> np.ndarray:
        """``y = r + γ^k (1 − terminated) (min_i Q'_i(s', a') − α log π(a'|s'))``, shape ``(B,)``;
        ``nxt`` is the policy's sample on ``s'`` when the caller already drew it."""
        if nxt is None:
            nxt = self.policy(batch.next_obs, eps, self._actor_replica)
        q_next = self.critics.target_min(batch.next_obs, self.scaler.to_env(nxt.action), serial)
        q_next -= alpha * nxt.log_prob
        not_done = batch.discount * (1.0 - batch.terminated)
        return batch.rewards + not_done.astype(self.dtype) * q_next

    def critic_loss(self, batch: Batch, target: np.ndarray) -> tuple[float, np.ndarray]:
        """``L_Q`` and the critics' ``.grad`` (zeroed first), without a step: the gradient
        :meth:`train_step` follows; returns ``(L_Q, Q)`` with ``Q`` ``(n, B)``."""
        return self.critics.fit(batch.obs, batch.actions, target, step=False)

    def actor_loss(self, obs: np.ndarray, alpha: float, sample: PolicySample | None = None,
                   eps: np.ndarray | None = None, backward: bool = True, weight: float = 1.0,
                   serial: bool = False) -> float:
        """``L_π`` for ``sample`` (a fresh :meth:`policy` pass on ``obs`` with ``eps`` if None);
        fills the actor's ``.grad`` (zeroed first) unless ``backward=False``. The critics' ``.grad``
        are never touched. ``sample`` must be the actor's latest forward pass. Loss and gradient
        are times ``weight`` (these rows' share of a batch split over processes)."""
        sample = self.policy(obs, eps) if sample is None else sample
        batch = obs.shape[0]
        per_row = weight / batch                  # 1 / B of the whole batch
        q = self.critics.forward(obs, self.scaler.to_env(sample.action), serial=serial)
        smallest = q.argmin(axis=0)
        loss = weight * float(np.mean(alpha * sample.log_prob - q[smallest, np.arange(batch)]))
        if backward:
            grad_q = np.zeros_like(q)
            grad_q[smallest, np.arange(batch)] = -per_row
            grad_action = self.critics.action_grad(grad_q, serial)
            grad_action *= self.scaler.scale
            self.policy_backward(sample, grad_action, alpha * per_row, accumulate=False)
        return loss

    def alpha_loss(self, log_prob: np.ndarray) -> float:
        """``L_α = −log α · mean(log π + H̄)``; sets ``log_alpha.grad``."""
        gap = float(np.mean(log_prob)) + self.target_entropy
        self.log_alpha.grad[0] = -gap
        return -float(self.log_alpha.value[0]) * gap

    # -- one update --------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        """One gradient step of the critics, the actor and the temperature on a minibatch."""
        alpha = self.alpha
        # Both noise draws first, in a fixed order, so the result does not depend on the lanes.
        shape = (batch.obs.shape[0], self.act_dim)
        eps_next = self.rng.standard_normal(shape, dtype=self.dtype)
        eps = self.rng.standard_normal(shape, dtype=self.dtype)
        # The pass on s' (for the target) runs on the replica, the one on s on the actor itself,
        # whose cache its backward in actor_loss needs.
        nxt, sample = self.lanes.map(lambda job: self.policy(*job), [(batch.next_obs, eps_next, self._actor_replica),
                                                                   (batch.obs, eps, self.actor)])
        target = self.td_target(batch, alpha, nxt=nxt)
        metrics = {"ent_coef": alpha}
        if self.learn_alpha:
            metrics["ent_coef_loss"] = self.alpha_loss(sample.log_prob)
            self.alpha_optimizer.step()
        metrics["critic_loss"], q = self.critics.fit(batch.obs, batch.actions, target)
        metrics["actor_loss"] = self.actor_loss(batch.obs, alpha, sample)
        self.actor_optimizer.step()
        self.n_updates += 1
        if self.n_updates % self.config.target_update_interval == 0:
            self.critics.update_targets(self.config.tau)
        metrics["q_mean"] = float(q.mean())
        return metrics

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

        1. each side: the policy on its ``s'`` rows and the target ``y``, the policy sample on its
           ``s`` rows, the critics' gradients of its rows (weighted by its share of ``B``) — barrier;
        2. critic ``i`` is summed over the two gradients and Adam-stepped by process ``i mod 2``;
           this process steps the temperature with the whole batch's mean ``log π`` — barrier;
        3. each side: the actor's gradient of its rows through the updated critics — barrier;
        4. each process sums and Adam-steps its half of the actor's parameter vector and
           Polyak-averages the target of the critic it stepped — barrier.

        The noise ``ε`` of both policy passes is drawn here for the whole batch, in the serial
        order, so only float rounding in the gradient sums tells the result from the serial one.
        """
        c = self.config
        split = self._split if self._split is not None else self._start_split(batches[0])
        half, n, shape = split.half, len(batches), (c.batch_size, self.act_dim)
        noise = []
        for i in range(n):   # the worker's noise into the memory it reads, ours kept here
            eps_next = self.rng.standard_normal(shape, dtype=self.dtype)
            eps = self.rng.standard_normal(shape, dtype=self.dtype)
            noise.append((eps_next[:half], eps[:half]))
            split.noise[i] = eps_next[half:], eps[half:]
        write_rows(split.inputs, batches, half)
        split.alpha[0] = self.alpha
        parts = [b.rows(slice(0, half)) for b in batches]
        own = self.lanes.run_forked(self._serve_split, n,
                                    lambda lane: self._split_updates(lane, parts, noise, half / c.batch_size))
        for metrics, theirs in zip(own, split.outputs):
            for j, key in enumerate(_SPLIT_SUMS):
                metrics[key] += float(theirs[j])
            metrics["q_mean"] = (metrics["q_mean"] + float(theirs[2])) / (c.n_critics * c.batch_size)
            del metrics["log_prob_sum"]
        return own

    def _start_split(self, batch: Batch) -> _Split:
        """Networks and optimiser states into shared memory (before the fork), and the worker's
        input and output areas."""
        c = self.config
        nets = {"actor": SharedNet(self.actor, self.actor_optimizer)}
        for i, (net, opt) in enumerate(zip(self.critics.nets, self.critics.optimizers)):
            nets[f"critic{i}"] = SharedNet(net, opt)
        targets = [SharedNet(target) for target in self.critics.targets]
        self._actor_replica = self.actor.replica()     # a replica made before the move holds stale buffers
        half = c.batch_size // 2
        rows = c.batch_size - half
        inputs = rows_area(batch, c.gradient_steps, rows)
        self._split = _Split(half, nets, targets, inputs, shared_array((c.gradient_steps, 2, rows, self.act_dim), self.dtype),
                             shared_array((c.gradient_steps, 4), np.float64), shared_array(1, np.float64))
        return self._split

    def _serve_split(self, lane: ForkedLane, n: int) -> None:  # pragma: no cover (runs in the worker)
        split, c = self._split, self.config
        parts = [Batch(**{name: arr[i] for name, arr in split.inputs.items()}) for i in range(n)]
        noise = [(split.noise[i, 0], split.noise[i, 1]) for i in range(n)]
        for i, metrics in enumerate(self._split_updates(lane, parts, noise, (c.batch_size - split.half) / c.batch_size)):
            split.outputs[i, :3] = [metrics[k] for k in _SPLIT_SUMS] + [metrics["q_mean"]]   # log π went mid-update

    def _split_updates(self, lane: ForkedLane, parts: list[Batch], noise: list[tuple[np.ndarray, np.ndarray]],
                       weight: float) -> list[dict[str, float]]:
        """One side of :meth:`_train_round_split`. Metrics are this side's parts: losses already
        weighted, ``q_mean`` as a sum over its rows and critics."""
        split, c = self._split, self.config
        for net in split.nets.values():
            net.use_grads_of(lane.index)
        mine = [i for i in range(c.n_critics) if i % 2 == lane.index]
        results = []
        for part, (eps_next, eps) in zip(parts, noise):
            alpha = float(split.alpha[0])
            nxt = self.policy(part.next_obs, eps_next, self._actor_replica)
            target = self.td_target(part, alpha, nxt=nxt, serial=True)
            sample = self.policy(part.obs, eps, self.actor)
            critic_loss, q = self.critics.fit(part.obs, part.actions, target, step=False, weight=weight, serial=True)
            metrics = {"critic_loss": critic_loss, "q_mean": float(q.sum()), "log_prob_sum": float(sample.log_prob.sum())}
            if lane.index == 1:
                split.outputs[len(results), 3] = metrics["log_prob_sum"]
            lane.barrier()                              # 1: both sides' critic gradients and log π sums
            for i in range(c.n_critics):
                if i in mine:
                    split.nets[f"critic{i}"].sum_grads()
                    self.critics.optimizers[i].step()
                else:
                    self.critics.optimizers[i].advance()    # the other process steps it: keep the count
            if lane.index == 0:
                metrics["ent_coef"] = alpha
                if self.learn_alpha:
                    log_prob_mean = (metrics["log_prob_sum"] + float(split.outputs[len(results), 3])) / c.batch_size
                    metrics["ent_coef_loss"] = self.alpha_loss(np.array([log_prob_mean]))
                    self.alpha_optimizer.step()
            lane.barrier()                              # 2: the critics have moved
            metrics["actor_loss"] = self.actor_loss(part.obs, alpha, sample, weight=weight, serial=True)
            lane.barrier()                              # 3: both sides' actor gradients
            actor = split.nets["actor"]
            actor.sum_grads(actor.half(lane.index))
            self.actor_optimizer.update_part(lane.index, 2, self.actor_optimizer.advance())
            if lane.index == 0:
                split.alpha[0] = self.alpha
            self.n_updates += 1
            if self.n_updates % c.target_update_interval == 0:
                for i in mine:
                    split.targets[i].polyak_from(split.nets[f"critic{i}"], c.tau)
            lane.barrier()                              # 4: actor and targets have moved
            results.append(metrics)
        return results

    # -- checkpoints -------------------------------------------------------------------------
    def _modules(self) -> dict[str, Any]:
        return {"actor": self.actor, **self.critics.modules()}

    def _optimizers(self) -> dict[str, Any]:
        return {"actor": self.actor_optimizer, **self.critics.named_optimizers(), "alpha": self.alpha_optimizer}

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state(self._modules(), self._optimizers())
        arrays["log_alpha"] = self.log_alpha.value.copy()
        meta.update(config=config_to_dict(self.config), observation_space=space_to_json(self.observation_space),
                    action_space=space_to_json(self.action_space), rng=self.rng.bit_generator.state,
                    n_updates=self.n_updates, total_steps=self.total_steps)
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, self._modules(), self._optimizers())
        self.critics.load_joint_optimizer(arrays, meta)
        self.log_alpha.value = np.asarray(arrays["log_alpha"], dtype=np.float64).reshape(1)
        self.rng.bit_generator.state = meta["rng"]
        self.n_updates = int(meta.get("n_updates", 0))
        self.total_steps = int(meta.get("total_steps", 1))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> SAC:
        agent = cls(space_from_json(meta["observation_space"]), space_from_json(meta["action_space"]),
                    config_from_dict(cls.Config, meta["config"]))
        agent.load_state_dict(arrays, meta)
        return agent
