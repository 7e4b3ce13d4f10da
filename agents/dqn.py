"""Deep Q-learning with experience replay (seed 000), on an ``rlnn`` network.

The Q-network maps an observation to one value per action. Each update draws a minibatch
``(s, a, r, s', done)`` from the replay memory and regresses ``Q(s, a)`` on the TD target::

    a* = argmax_a' Q(s', a')                (Double DQN: chosen by the online network,
    y  = r + γ^k (1 − terminated) Q_target(s', a*)      valued by the target network)
    L  = mean_batch huber(Q(s, a) − y)

Only the taken action's output receives gradient: ``dL/dQ(s, ·)`` is zero except at ``a``.
The target network is a copy of the online one, refreshed every ``target_update_interval`` env
steps (a hard copy for ``tau = 1``, Polyak averaging otherwise). Exploration is ε-greedy with ε
falling linearly from ``exploration_initial_eps`` to ``exploration_final_eps`` over the first
``exploration_fraction`` of training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

import rlnn
from rlnn.losses import Huber, SquaredError
from rlnn.module import Module, Parameter, register_module
from rlnn.optim import Adam, Optimizer, polyak_update

from .checkpoint import pack_state, rebuild_agent, restore_agent_state, unpack_state, with_agent_state
from .config import OffPolicyConfig, config_from_dict
from .normalization import Normalization
from .parallel import SERIAL, Reducer
from .replay import Batch
from .run_length import RunLength
from .spaces import ObservationEncoder, check_discrete_action


@dataclass
class DQNConfig(OffPolicyConfig):
    """DQN hyperparameters (names and meanings as in Stable-Baselines3 / rl-baselines3-zoo)."""
    learning_rate: float = 1e-4
    """Adam step size."""
    buffer_size: int = 100_000
    """Replay memory capacity (transitions)."""
    learning_starts: int = 1000
    """Env steps of pure exploration before the first update."""
    batch_size: int = 32
    """Transitions per gradient step."""
    tau: float = 1.0
    """Target update coefficient: 1 = hard copy, < 1 = Polyak averaging."""
    train_freq: int = 4
    """Env steps between training rounds."""
    target_update_interval: int = 10_000
    """Env steps between target-network updates (SB3's convention)."""
    exploration_fraction: float = 0.1
    """Fraction of the run over which ε decays."""
    exploration_initial_eps: float = 1.0
    """ε at the start."""
    exploration_final_eps: float = 0.05
    """ε after the decay."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip (0 disables)."""
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden layer widths."""
    double_q: bool = True
    """Double DQN: the online network picks a*, the target network values it."""
    dueling: bool = False
    """Dueling head: Q = V + A − mean(A)."""
    loss: str = "huber"
    """TD loss: "huber" or "mse"."""

    def validate(self) -> None:
        super().validate()
        if self.loss not in ("huber", "mse"):
            raise ValueError(f"config key 'loss' must be 'huber' or 'mse', got {self.loss!r}")
        if self.target_update_interval < 1:
            raise ValueError(f"config key 'target_update_interval' must be at least 1, got {self.target_update_interval}")
        for name in ("exploration_fraction", "exploration_initial_eps", "exploration_final_eps"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"config key {name!r} must lie in [0, 1], got {getattr(self, name)}")
        if not self.max_grad_norm >= 0:
            raise ValueError(f"config key 'max_grad_norm' must be 0 (off) or positive, got {self.max_grad_norm}")


@register_module
class DuelingQNetwork(Module):
    """``Q(s, a) = V(s) + A(s, a) − mean_a A(s, a)`` on a shared ReLU body.

    Backward: with ``g = dL/dQ`` of shape ``(B, n)``, ``dL/dV = sum_a g`` and
    ``dL/dA = g − mean_a g``; both flow into the body's output.
    """

    def __init__(self, sizes: list[int], activation: str = "relu", rng_or_seed: Any = None) -> None:
        rng = rlnn.init.make_rng(rng_or_seed)
        *body_sizes, n_actions = sizes
        self.sizes, self.activation = list(sizes), activation
        self.body = rlnn.MLP(body_sizes, activation=activation, output_activation=activation, rng_or_seed=rng)
        self.value = rlnn.Linear(body_sizes[-1], 1, rng_or_seed=rng)
        self.advantage = rlnn.Linear(body_sizes[-1], n_actions, rng_or_seed=rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = self.body(x)
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(axis=1, keepdims=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        h = self.body.predict(x)
        adv = self.advantage.predict(h)
        return self.value.predict(h) + adv - adv.mean(axis=1, keepdims=True)

    def backward(self, grad_out: np.ndarray, *, param_grads: bool = True, input_grad: bool = True,
                 accumulate: bool = True) -> np.ndarray | None:
        g_value = grad_out.sum(axis=1, keepdims=True)
        g_adv = grad_out - grad_out.mean(axis=1, keepdims=True)
        g_h = self.value.backward(g_value, param_grads=param_grads, accumulate=accumulate)
        g_h += self.advantage.backward(g_adv, param_grads=param_grads, accumulate=accumulate)
        return self.body.backward(g_h, param_grads=param_grads, input_grad=input_grad, accumulate=accumulate)

    def replica(self) -> DuelingQNetwork:
        twin = super().replica()
        twin.body, twin.value, twin.advantage = self.body.replica(), self.value.replica(), self.advantage.replica()
        return twin

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{prefix}.{name}", p) for prefix, module in
                (("body", self.body), ("value", self.value), ("advantage", self.advantage))
                for name, p in module.named_parameters()]

    def config(self) -> dict[str, Any]:
        return {"type": "DuelingQNetwork", "sizes": self.sizes, "activation": self.activation}


class DQN:
    """A DQN agent for ``Discrete`` actions and vector observations (a ``Box``, ``Discrete``,
    ``MultiDiscrete``, ``MultiBinary`` or a ``Dict``/``Tuple`` of those, encoded by
    :class:`~agents.spaces.ObservationEncoder`; optionally normalized, :mod:`agents.normalization`).

    ``total_steps`` is the length of the run in env steps: ε decays over
    ``exploration_fraction × total_steps`` of them (and a "linear" learning rate over all). It
    starts unset unless given here; :class:`~agents.loop.OffPolicyTrainer` sets it, and a custom
    loop must set it (``DQN(..., total_steps=N)`` or ``agent.total_steps = N``) before its first
    ``explore``, else that call is a one-line ``ValueError`` naming it (:mod:`agents.run_length`).
    A custom loop, CleanRL's way (``c = agent.config``)::

        agent = DQN(env.observation_space, env.action_space, seed=0, total_steps=N)
        replay = ReplayBuffer(c.buffer_size, agent.obs_dim)
        obs = agent.encode(env.reset(seed=0)[0])
        for step in range(1, N + 1):
            action = agent.explore(obs, step - 1)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            replay.add(obs, action, reward, agent.encode(next_obs), terminated, truncated)
            obs = agent.encode(env.reset()[0] if terminated or truncated else next_obs)
            if step > c.learning_starts and step % c.train_freq == 0:
                agent.train_step(replay.sample(c.batch_size, c.gamma))
            agent.on_step(step)          # the target network's refresh and the learning rate
    """

    algo = "dqn"
    Config = DQNConfig
    metric_names = ("loss", "q_mean")
    total_steps = RunLength(("ε's decay over exploration_fraction of the run", lambda c: c.exploration_fraction > 0
                             and c.exploration_initial_eps != c.exploration_final_eps))

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: DQNConfig | dict | None = None, seed: int | None = 0, total_steps: int | None = None) -> None:
        self.config = config if isinstance(config, DQNConfig) else config_from_dict(DQNConfig, config or {})
        self.encoder = ObservationEncoder(observation_space, "DQN")
        self.obs_dim = self.encoder.dim
        self.n_actions = check_discrete_action(action_space, "DQN")
        self.observation_space, self.action_space = observation_space, action_space
        self.action_start = int(action_space.start)
        self.rng = np.random.default_rng(seed)
        c = self.config
        sizes = [self.obs_dim, *c.net_arch, self.n_actions]
        if c.dueling:
            self.q = DuelingQNetwork(sizes, c.activation, rng_or_seed=self.rng)
        else:
            self.q = rlnn.MLP(sizes, activation=c.activation, rng_or_seed=self.rng)
        self.q_target = self.q.copy()
        self.optimizer = Adam(self.q.parameters(), lr=c.learning_rate)
        self.loss_fn = Huber(reduction="mean") if c.loss == "huber" else SquaredError(reduction="mean", half=True)
        self.normalization = Normalization(self.obs_dim, c)
        self.n_updates = 0
        self.total_steps = total_steps

    # -- acting ----------------------------------------------------------------------------
    def predict(self, obs: Any, deterministic: bool = True) -> int | np.ndarray:
        """Greedy action(s) for raw observations of the env (or rows :meth:`encode` made):
        one ``int`` for one observation, an array ``(B,)`` for a batch of ``B``. The observation
        statistics are applied, never updated. SB3's name, but SB3's ``predict`` returns
        ``(action, state)`` and this the action(s) only; and DQN's policy is greedy whatever
        ``deterministic`` says (SB3 takes a random action with its current ε when it is False).
        ``act`` is the same method."""
        obs = self.normalization.observations(self.encode(obs))
        q = self.q.predict(obs if obs.ndim == 2 else obs[None])
        actions = q.argmax(axis=1) + self.action_start
        return int(actions[0]) if obs.ndim == 1 else actions

    act = predict

    def epsilon(self, step: int) -> float:
        """ε at env step ``step``: from ``exploration_initial_eps`` linearly to
        ``exploration_final_eps`` over ``exploration_fraction × total_steps`` steps."""
        c = self.config
        frac = 1.0
        if c.exploration_fraction > 0 and c.exploration_initial_eps != c.exploration_final_eps:
            frac = min(step / (c.exploration_fraction * self.total_steps), 1.0)
        return c.exploration_initial_eps + frac * (c.exploration_final_eps - c.exploration_initial_eps)

    def encode(self, obs: Any) -> np.ndarray:
        """Raw observation(s) as the flat float32 rows the network and the replay memory take
        (:class:`~agents.spaces.ObservationEncoder`; rows already encoded pass through)."""
        return self.encoder.encode(obs)

    def explore(self, obs: Any, step: int) -> int | np.ndarray:
        """ε-greedy action for training at env step ``step``: an ``int`` for one observation,
        ``(n,)`` actions for a batch of ``n`` (one per sub-env, each ε-greedy on its own). Each
        observation given here is counted once in the normalization statistics (when on)."""
        obs = self.encode(obs)
        self.normalization.observe(obs)
        epsilon = self.epsilon(step)
        if obs.ndim == 1:
            if self.rng.random() < epsilon:
                return int(self.rng.integers(self.n_actions)) + self.action_start
            return self.act(obs)
        actions = self.act(obs)
        random_rows = self.rng.random(len(obs)) < epsilon
        actions[random_rows] = self.rng.integers(self.n_actions, size=int(random_rows.sum())) + self.action_start
        return actions

    # -- learning --------------------------------------------------------------------------
    def td_target(self, batch: Batch, q_next_target: np.ndarray | None = None) -> np.ndarray:
        """``r + γ^k (1 − terminated) Q_target(s', a*)``, shape ``(B,)``. ``q_next_target`` is
        ``Q_target(s', ·)`` when the caller already has it (see :meth:`train_round`)."""
        if q_next_target is None:
            q_next_target = self.q_target(batch.next_obs)
        if self.config.double_q:
            best = self.q(batch.next_obs).argmax(axis=1)
        else:
            best = q_next_target.argmax(axis=1)
        q_next = q_next_target[np.arange(len(best)), best]
        return batch.rewards + batch.discount * (1.0 - batch.terminated) * q_next

    def td_loss(self, batch: Batch, target: np.ndarray, weight: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss of ``Q(s, a)`` against ``target`` and its gradient with respect to every Q output
        (zero except at the taken actions), both times ``weight`` (these rows' share of the
        batch). Leaves the forward cache of ``Q(s, ·)`` in place."""
        q = self.q(batch.obs)
        rows = np.arange(q.shape[0])
        taken = batch.actions - self.action_start
        value, grad_taken = self.loss_fn(q[rows, taken], target.astype(q.dtype, copy=False))
        grad_q = np.zeros_like(q)
        grad_q[rows, taken] = grad_taken
        if weight != 1.0:
            value *= weight
            grad_q *= weight
        return value, grad_q, q

    def prepare(self, batches: list[Batch]) -> list[Batch]:
        """The batches with normalized observations and scaled rewards when the config asks for
        them (:mod:`agents.normalization`), else as they are: a DQN update draws nothing at random."""
        return self.normalization.batches(batches)

    def train_round(self, batches: list[Batch], reducer: Reducer = SERIAL) -> list[dict[str, float]]:
        """One gradient step per batch (the rows this process is given of each).

        The target network only moves in :meth:`on_step`, between rounds, so ``Q_target(s', ·)``
        of every batch comes from one forward pass on all their next observations stacked (one
        large matmul instead of ``len(batches)`` small ones)."""
        c = self.config
        next_obs = np.concatenate([b.next_obs for b in batches]) if len(batches) > 1 else batches[0].next_obs
        q_next = np.split(self.q_target(next_obs), np.cumsum([len(b.rewards) for b in batches])[:-1])
        results = []
        for batch, q_next_target in zip(batches, q_next):
            loss, grad_q, q = self.td_loss(batch, self.td_target(batch, q_next_target), reducer.share)
            self.q.backward(grad_q, input_grad=False, accumulate=False)     # .grad = these rows' gradient
            reducer.step([self.optimizer], c.max_grad_norm)
            self.n_updates += 1
            results.append({"loss": loss, "q_mean": reducer.share * float(q.mean())})
        return results

    def train_step(self, batch: Batch) -> dict[str, float]:
        """One gradient step on a minibatch, in this process (through :meth:`prepare`, so a
        custom loop trains on what the agent acts on: normalized rows when normalization is on)."""
        return self.train_round(self.prepare([batch]))[0]

    def on_step(self, step: int) -> None:
        """Called by the training loop after every env step: the learning-rate schedule and the
        target-network refresh."""
        self.optimizer.lr = self.config.learning_rate_at(step, self.total_steps)
        if step % self.config.target_update_interval == 0:
            polyak_update(self.q_target.parameters(), self.q.parameters(), self.config.tau)

    def on_episode_end(self, env: int) -> None:
        """Called by the training loop when sub-env ``env`` ends an episode: ε-greedy keeps no
        per-episode state, so nothing to do."""

    def parallel_modules(self) -> list[tuple[Module, Optimizer | None]]:
        """The networks a row split shares between processes, with their optimisers."""
        return [(self.q, self.optimizer), (self.q_target, None)]

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state({"q": self.q, "q_target": self.q_target}, {"q": self.optimizer})
        return with_agent_state(self, arrays, meta, learning_rate=self.optimizer.lr)

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, {"q": self.q, "q_target": self.q_target}, {"q": self.optimizer})
        restore_agent_state(self, arrays, meta)
        self.optimizer.lr = float(meta.get("learning_rate", self.config.learning_rate))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> DQN:
        return rebuild_agent(cls, arrays, meta)
