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

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

import rlnn
from rlnn.losses import Huber, SquaredError
from rlnn.module import Module, Parameter, register_module
from rlnn.optim import Adam, clip_grad_norm, part_slice, polyak_update

from .checkpoint import pack_state, unpack_state
from .config import config_from_dict, config_to_dict
from .forked import ForkedLane, SharedNet, can_split, rows_area, shared_array, write_rows
from .lanes import Lanes
from .replay import Batch
from .spaces import as_observation, check_box_observation, check_discrete_action, space_from_json, space_to_json


@dataclass
class DQNConfig:
    """DQN hyperparameters (names and meanings as in Stable-Baselines3 / rl-baselines3-zoo)."""
    learning_rate: float = 1e-4
    """Adam step size."""
    learning_rate_schedule: str = "constant"
    """"constant", or "linear": decay to 0 at the end of training (steadies the final policy)."""
    buffer_size: int = 100_000
    """Replay memory capacity (transitions)."""
    learning_starts: int = 1000
    """Env steps of pure exploration before the first update."""
    batch_size: int = 32
    """Transitions per gradient step."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 1.0
    """Target update coefficient: 1 = hard copy, < 1 = Polyak averaging."""
    train_freq: int = 4
    """Env steps between training rounds."""
    gradient_steps: int = 1
    """Gradient steps per training round."""
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
    activation: str = "relu"
    """Hidden activation."""
    double_q: bool = True
    """Double DQN: the online network picks a*, the target network values it."""
    dueling: bool = False
    """Dueling head: Q = V + A − mean(A)."""
    loss: str = "huber"
    """TD loss: "huber" or "mse"."""
    n_step: int = 1
    """n-step returns."""

    def validate(self) -> None:
        if self.loss not in ("huber", "mse"):
            raise ValueError(f"config key 'loss' must be 'huber' or 'mse', got {self.loss!r}")
        for name in ("buffer_size", "batch_size", "train_freq", "target_update_interval", "n_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"config key 'tau' must lie in (0, 1], got {self.tau}")


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


@dataclass
class _Split:
    """Shared memory of :meth:`DQN._train_round_split`."""
    half: int                          # this process's rows: 0 .. half
    q: SharedNet                       # Q, its Adam state and the two processes' gradients
    inputs: dict[str, np.ndarray]      # the worker's rows of each batch: (steps, B − half, ...)
    outputs: np.ndarray                # (steps, 2): the worker's loss and sum of Q per step
    squares: np.ndarray                # (2,): each process's squared norm of its half of the summed gradient
    step: np.ndarray                   # (2,): the learning rate and count of the current Adam step


class DQN:
    """A DQN agent for ``Box`` observations and ``Discrete`` actions."""

    algo = "dqn"
    Config = DQNConfig
    metric_names = ("loss", "q_mean", "epsilon")

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 config: DQNConfig | dict | None = None, seed: int | None = 0) -> None:
        self.config = config if isinstance(config, DQNConfig) else config_from_dict(DQNConfig, config or {})
        self.obs_dim = check_box_observation(observation_space, "DQN")
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
        self.lanes = Lanes()
        self._split: _Split | None = None   # shared memory of the row-split rounds, made on first use
        self.optimizer = Adam(self.q.parameters(), lr=c.learning_rate)
        self.loss_fn = Huber(reduction="mean") if c.loss == "huber" else SquaredError(reduction="mean", half=True)
        self.n_updates = 0
        self.total_steps = 1

    # -- acting ----------------------------------------------------------------------------
    def act(self, obs: np.ndarray, deterministic: bool = True) -> int | np.ndarray:
        """Greedy action(s): one ``int`` for an observation of shape ``(obs_dim,)``, an array
        of shape ``(B,)`` for a batch of shape ``(B, obs_dim)``."""
        obs = as_observation(obs, self.obs_dim)
        q = self.q.predict(obs if obs.ndim == 2 else obs[None])
        actions = q.argmax(axis=1) + self.action_start
        return int(actions[0]) if obs.ndim == 1 else actions

    def epsilon(self, step: int) -> float:
        c = self.config
        decay_steps = c.exploration_fraction * self.total_steps
        frac = min(step / decay_steps, 1.0) if decay_steps > 0 else 1.0
        return c.exploration_initial_eps + frac * (c.exploration_final_eps - c.exploration_initial_eps)

    def explore(self, obs: np.ndarray, step: int) -> int:
        """ε-greedy action for training at env step ``step``."""
        if self.config.learning_rate_schedule == "linear":
            # Set here, from the step count alone, so a resumed run updates with the same rates.
            self.optimizer.lr = self.config.learning_rate * max(0.0, 1.0 - step / self.total_steps)
        if self.rng.random() < self.epsilon(step):
            return int(self.rng.integers(self.n_actions)) + self.action_start
        return self.act(obs)

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

    def round_targets(self, batches: list[Batch]) -> np.ndarray:
        """The TD targets of a whole round without Double DQN, shape ``(len(batches), B)``: one
        pass of ``Q_target`` on every batch's next observations stacked (the target network
        only moves in :meth:`on_step`, between rounds), then ``r + γ^k (1 − terminated) max_a
        Q_target(s', a)`` on whole-round arrays, a few numpy calls instead of a few per step.
        (With Double DQN the argmax needs the online network as it is at each step.)"""
        n = len(batches)
        q_next = self.q_target(np.concatenate([b.next_obs for b in batches])).max(axis=1).reshape(n, -1)
        rewards, discount, terminated = (np.stack([getattr(b, name) for b in batches])
                                         for name in ("rewards", "discount", "terminated"))
        return rewards + discount * (1.0 - terminated) * q_next

    def td_loss(self, batch: Batch, target: np.ndarray, weight: float = 1.0) -> tuple[float, np.ndarray, np.ndarray]:
        """Loss of ``Q(s, a)`` against ``target`` and its gradient with respect to every Q output
        (zero except at the taken actions), both times ``weight`` (the batch's share of a larger
        one whose rows are split over lanes). Leaves the forward cache of ``Q(s, ·)`` in place."""
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

    def train_step(self, batch: Batch, q_next_target: np.ndarray | None = None) -> dict[str, float]:
        """One gradient step on a minibatch (``q_next_target`` as in :meth:`td_target`)."""
        return self._step(batch, self.td_target(batch, q_next_target))

    def _step(self, batch: Batch, target: np.ndarray) -> dict[str, float]:
        loss, grad_q, q = self.td_loss(batch, target)
        self.q.backward(grad_q, input_grad=False, accumulate=False)     # .grad = this batch's gradient
        if self.config.max_grad_norm > 0:
            clip_grad_norm(self.q.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.n_updates += 1
        return {"loss": loss, "q_mean": float(q.mean())}

    def train_round(self, batches: list[Batch]) -> list[dict[str, float]]:
        """``train_step`` on each batch in turn, with ``Q_target(s', ·)`` computed ahead: the
        target network only moves in :meth:`on_step`, between rounds, so its values on every
        batch's next observations come from one forward pass on all of them stacked (one large
        matmul instead of ``len(batches)`` small ones); without Double DQN the whole round's
        targets come from it at once (:meth:`round_targets`).

        With two lanes (Linux), each batch's rows are split over this process and a forked
        one instead: see :meth:`_train_round_split`.
        """
        if can_split(self.lanes.workers, self.config, batches):
            return self._train_round_split(batches)
        if len(batches) == 1:
            return [self.train_step(batches[0])]
        if not self.config.double_q and len({len(b.rewards) for b in batches}) == 1:
            return [self._step(b, y) for b, y in zip(batches, self.round_targets(batches))]
        next_obs = [b.next_obs for b in batches]
        q_next = np.split(self.q_target(np.concatenate(next_obs)), np.cumsum([len(x) for x in next_obs])[:-1])
        return [self.train_step(b, q) for b, q in zip(batches, q_next)]

    # -- a round's rows split over two processes ---------------------------------------------
    def _train_round_split(self, batches: list[Batch]) -> list[dict[str, float]]:
        """The round with every batch split in two row halves (data parallelism over two cores).

        This process trains on rows ``0 .. B/2`` and a forked worker (:mod:`agents.forked`) on the
        rest, each back-propagating its half, weighted by its share of ``B``, into a gradient of its
        own; the two networks are one, their parameters and Adam's moments living in shared memory.
        Per step: both back-propagate — barrier — each process sums its half of the parameter vector
        over the two gradients (the full batch's gradient, up to float rounding) and that half's
        squared norm — barrier — each clips by the global norm and takes the Adam step of its half
        — barrier. Each side gets its rows' target values from one pass of ``Q_target`` at the start.
        """
        split = self._split if self._split is not None else self._start_split(batches[0])
        half, n = split.half, len(batches)
        write_rows(split.inputs, batches, half)
        parts = [b.rows(slice(0, half)) for b in batches]
        own = self.lanes.run_forked(self._serve_split, n,
                                    lambda lane: self._split_steps(lane, parts, half / self.config.batch_size))
        totals = own + split.outputs[:n]
        q_count = self.config.batch_size * self.n_actions
        return [{"loss": float(loss), "q_mean": float(q_sum) / q_count} for loss, q_sum in totals]

    def _start_split(self, batch: Batch) -> _Split:
        """Move ``Q`` and ``Q_target`` into shared memory (before the fork) and make the worker's
        input and output areas."""
        c = self.config
        q = SharedNet(self.q, self.optimizer)      # each process steps half of the parameters
        SharedNet(self.q_target)                   # read by both, moved by on_step here
        half = c.batch_size // 2
        inputs = rows_area(batch, c.gradient_steps, c.batch_size - half)
        self._split = _Split(half, q, inputs, shared_array((c.gradient_steps, 2), np.float64),
                             shared_array(2, np.float64), shared_array(2, np.float64))
        return self._split

    def _serve_split(self, lane: ForkedLane, n: int) -> None:  # pragma: no cover (runs in the worker)
        split = self._split
        parts = [Batch(**{name: arr[i] for name, arr in split.inputs.items()}) for i in range(n)]
        c = self.config
        split.outputs[:n] = self._split_steps(lane, parts, (c.batch_size - split.half) / c.batch_size)

    def _split_steps(self, lane: ForkedLane, parts: list[Batch], weight: float) -> np.ndarray:
        """One side of :meth:`_train_round_split`: returns ``(loss, sum of Q)`` per step for its rows."""
        split = self._split
        split.q.use_grads_of(lane.index)
        targets = None if self.config.double_q else self.round_targets(parts)
        q_next = np.split(self.q_target(np.concatenate([p.next_obs for p in parts])), len(parts)) if targets is None else None
        out = np.empty((len(parts), 2))
        for i, part in enumerate(parts):
            target = self.td_target(part, q_next[i]) if targets is None else targets[i]
            loss, grad_q, q = self.td_loss(part, target, weight)
            self.q.backward(grad_q, input_grad=False, accumulate=False)
            lane.barrier()                          # both halves' gradients are in
            summed = split.q.sum_grads(part_slice(len(split.q.value), lane.index, 2))
            split.squares[lane.index] = float(np.vdot(summed, summed))
            if lane.index == 0:
                split.step[:] = self.optimizer.advance(), self.optimizer.t
            lane.barrier()                          # the summed gradient's halves and norms are in
            lr, self.optimizer.t = float(split.step[0]), int(split.step[1])
            norm, max_norm = math.sqrt(split.squares.sum()), self.config.max_grad_norm
            scale = max_norm / (norm + 1e-12) if 0 < max_norm < norm else 1.0     # as clip_grad_norm
            self.optimizer.update_part(lane.index, 2, lr, scale)
            lane.barrier()                          # the parameters have moved
            out[i] = loss, float(q.sum())
        if lane.index == 0:
            self.n_updates += len(parts)
        return out

    def on_step(self, step: int) -> None:
        """Called by the training loop after every env step: target-network refresh."""
        if step % self.config.target_update_interval == 0:
            polyak_update(self.q_target.parameters(), self.q.parameters(), self.config.tau)

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = pack_state({"q": self.q, "q_target": self.q_target}, {"q": self.optimizer})
        meta.update(config=config_to_dict(self.config), observation_space=space_to_json(self.observation_space),
                    action_space=space_to_json(self.action_space), rng=self.rng.bit_generator.state,
                    n_updates=self.n_updates, total_steps=self.total_steps)
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        unpack_state(arrays, meta, {"q": self.q, "q_target": self.q_target}, {"q": self.optimizer})
        self.rng.bit_generator.state = meta["rng"]
        self.n_updates = int(meta.get("n_updates", 0))
        self.total_steps = int(meta.get("total_steps", 1))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> DQN:
        agent = cls(space_from_json(meta["observation_space"]), space_from_json(meta["action_space"]),
                    config_from_dict(DQNConfig, meta["config"]))
        agent.load_state_dict(arrays, meta)
        return agent
