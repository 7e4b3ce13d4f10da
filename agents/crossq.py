"""CrossQ (Bhatt, Palenicek et al., ICLR 2024): SAC without target networks, with batch
renormalization in the critics and the actor, on ``rlnn`` networks.

SAC's squashed-Gaussian actor, its log-probability and its learned temperature are reused as
they are (:mod:`agents.sac`: this class is SAC with other networks and another update). Each of
the ``n_critics`` critics is ``BRN → Linear → ReLU → BRN → Linear → ReLU → BRN → Linear`` on
``[s, a]``, batch renormalization before every ``Linear``, the input included
(``rlnn.MLP(norm="batch_renorm", norm_before="linear")``, :mod:`rlnn.norm`); the actor is built
the same way (as in SB3-contrib and SBX; ``actor_batch_norm=False`` leaves it plain). No target
networks. Adam with β1 = ``adam_beta1`` (0.5) for the actor and the critics, the temperature's
Adam at PyTorch's β1 = 0.9 (as both references). All networks rest in eval mode (acting uses
running statistics, a single row included) and go to train mode only for the passes below.

One update (``B`` rows, ``α`` read once at its start, ``sg`` a stop-gradient)::

    a' ~ π(·|s')                                   actor in eval mode (running statistics)
    [Q_i(s, a); Q_i(s', a')] = Q_i([s, a; s', a'])   ONE train-mode pass of 2B rows per critic:
                                                   both halves share the batch statistics
    y   = r + γ^k (1 − terminated) sg(min_i Q_i(s', a') − α log π(a'|s'))
    L_Q = ½ Σ_i mean_b (Q_i(s, a) − y)²            dL_Q/dQ_i = [(Q_i(s, a) − y) / B ; 0]

The joint pass is back-propagated with a zero gradient on its ``s'`` half. Those rows still
shape ``dL_Q/dθ`` through the batch mean and variance they share with the ``s`` half: that is
the gradient of ``L_Q(θ)`` with ``y`` held fixed, what autodiff of the references gives (their
``detach`` cuts the target's output, not the statistics). Every ``policy_delay``-th update::

    a_π ~ π(·|s)                                   actor in train mode (its running statistics move)
    L_π = mean_b (α log π(a_π|s) − min_i Q_i(s, a_π))   critics in EVAL mode
    L_α = −log α · mean_b (log π(a_π|s) + H̄)

The actor's ``dQ/da`` comes through the critics in eval mode, as in SB3-contrib
(``set_bn_training_mode(False)``) and SBX (``train=False``): each batch-renorm layer is then the
fixed affine map ``y = γ (x − μ) / σ + β`` of its running statistics (``dy/dx = γ / σ``), so
the gradient of a row's ``Q`` does not depend on the other rows of the batch, and the actor's
pass leaves the critics' statistics alone. Once the warm-up is over (``renorm_warmup_steps``
critic updates) and ``r``, ``d`` are unclipped, that is the very function the critic's train-mode
pass fits; before, it is batch norm with the running statistics in place of the batch's. From
``dL_π/da`` on, the gradients are SAC's (squash, reparameterisation, log-std clamp; :mod:`agents.sac`).

Batch statistics couple a batch's rows, so the update is never split over processes: the
trainer (:class:`CrossQTrainer`) runs it in one (``lanes`` 1) and refuses more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rlnn.module import Module
from rlnn.norm import BatchNorm
from rlnn.optim import Adam, Optimizer

from .actor_critic import Critics, mlp, td_loss_grad
from .checkpoint import _BUDGET_FACTOR, rebuild_agent
from .config import ContinuousOffPolicyConfig
from .loop import OffPolicyTrainer
from .parallel import SERIAL, Reducer
from .replay import Batch
from .sac import SAC, PolicySample, SACConfig

ONE_PROCESS = ("CrossQ's batch renormalization takes its statistics over the whole batch, so its rows cannot be "
               "split over processes")


@dataclass
class CrossQConfig(ContinuousOffPolicyConfig):
    """CrossQ hyperparameters (names, meanings and defaults as in SB3-contrib's ``CrossQ``; the
    critics' width is chosen for a 2-core CPU, see ``critic_arch``)."""
    learning_rate: float = 1e-3
    """Adam step size for the actor, the critics and the temperature."""
    tau: float = 1.0
    """No target networks: fixed at 1 (SB3-contrib passes 1.0); any other value is refused."""
    policy_delay: int = 3
    """Critic updates per actor-and-temperature update."""
    ent_coef: str | float = "auto"
    """Temperature α: a number (fixed), "auto" (learned, starting at 1) or "auto_<init>" (learned from <init>)."""
    target_entropy: float | None = None
    """Entropy target H̄ of the learned temperature; None means −act_dim."""
    n_critics: int = 2
    """Number of Q-networks (the target and the actor use their minimum)."""
    critic_arch: list[int] = field(default_factory=lambda: [256, 256])
    """Hidden widths of each critic (SB3's ``net_arch["qf"]``; ``net_arch`` is the actor's, ``["pi"]``).
    The paper uses 2048, SB3-contrib 1024. On one CPU thread, batch 256, an update at 256 costs
    1.4x SAC's at 256 (the joint pass doubles the critics' rows), at 512 3.1x, 1024 12x, 2048 44x."""
    batch_norm_momentum: float = 0.01
    """Weight of each new batch in the running statistics (Flax's 0.99 is 1 − this)."""
    batch_norm_eps: float = 0.001
    """Added to the variances of the batch-renorm layers."""
    renorm_warmup_steps: int = 100_000
    """Train-mode passes of plain batch norm before the renormalization (r, d) switches on."""
    actor_batch_norm: bool = True
    """Batch renormalization in the actor too (the references' default)."""
    adam_beta1: float = 0.5
    """β1 of the actor's and the critics' Adam (β2 stays 0.999)."""
    dtype: str = "float32"
    """Network dtype ("float64" for gradient checks)."""

    parse_ent_coef = SACConfig.parse_ent_coef

    def validate(self) -> None:
        super().validate()
        if self.tau != 1.0:
            raise ValueError(f"config key 'tau' does not apply to CrossQ, which has no target networks (got "
                             f"{self.tau}); drop it")
        for name in ("policy_delay", "n_critics"):
            if getattr(self, name) < 1:
                raise ValueError(f"config key {name!r} must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ValueError(f"config key 'batch_size' must be at least 2 (a batch's variance), got {self.batch_size}")
        if not self.critic_arch or any(width < 1 for width in self.critic_arch):
            raise ValueError(f"config key 'critic_arch' must list positive layer widths, got {self.critic_arch}")
        if not 0 < self.batch_norm_momentum <= 1:
            raise ValueError(f"config key 'batch_norm_momentum' must lie in (0, 1], got {self.batch_norm_momentum}")
        if not self.batch_norm_eps > 0:
            raise ValueError(f"config key 'batch_norm_eps' must be positive, got {self.batch_norm_eps}")
        if self.renorm_warmup_steps < 0:
            raise ValueError(f"config key 'renorm_warmup_steps' must be 0 or more, got {self.renorm_warmup_steps}")
        if not 0 <= self.adam_beta1 < 1:
            raise ValueError(f"config key 'adam_beta1' must lie in [0, 1), got {self.adam_beta1}")
        self.parse_ent_coef()


class CrossQ(SAC):
    """CrossQ for bounded 1-D ``Box`` actions and the vector observations SAC takes (module
    docstring). Acting, exploring, the policy, checkpoints and the learning-rate schedule are
    :class:`~agents.sac.SAC`'s; the networks and the update are CrossQ's."""

    algo = "crossq"
    label = "CrossQ"
    Config = CrossQConfig
    last_actor_loss = last_alpha_loss = 0.0      # reported between the delayed updates

    def _build_networks(self) -> None:
        """Batch-renorm actor and critics (no targets), resting in eval mode; Adam with β1 = adam_beta1."""
        c = self.config
        norm = {"norm": "batch_renorm", "norm_before": "linear",
                "norm_kwargs": {"momentum": c.batch_norm_momentum, "eps": c.batch_norm_eps,
                                "warmup_steps": c.renorm_warmup_steps}}
        betas = (c.adam_beta1, 0.999)
        self.actor = mlp([self.obs_dim, *c.net_arch, 2 * self.act_dim], c.activation, self.rng, self.dtype,
                         **(norm if c.actor_batch_norm else {})).eval()
        self.critics = Critics(self.obs_dim, self.act_dim, c.critic_arch, c.n_critics, c.activation, self.rng,
                               self.dtype, c.learning_rate, targets=False, betas=betas, norm=norm)
        for net in self.critics.nets:
            net.eval()
        self.actor_optimizer = Adam(self.actor.parameters(), lr=c.learning_rate, betas=betas)
        # The only layers whose mode matters, switched directly: Module.train() walks every
        # submodule, ~8% of a small update.
        self._critic_norms = [layer for net in self.critics.nets for layer in net.layers if isinstance(layer, BatchNorm)]
        self._actor_norms = [layer for layer in self.actor.layers if isinstance(layer, BatchNorm)]

    # -- the passes ---------------------------------------------------------------------------
    def joint_q(self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray,
                next_actions: np.ndarray) -> np.ndarray:
        """``Q_i([s, a; s', a'])`` of shape ``(n, 2B)``: one train-mode pass per critic over both
        halves stacked, which share its batch statistics (its running ones move once)."""
        with _train_mode(self._critic_norms):
            return self.critics.forward(np.concatenate([obs, next_obs]), np.concatenate([actions, next_actions]))

    def actor_sample(self, obs: np.ndarray, eps: np.ndarray | None = None) -> PolicySample:
        """SAC's :meth:`~agents.sac.SAC.policy` pass with the actor in train mode (batch
        statistics; its running ones move), for the actor's own loss."""
        with _train_mode(self._actor_norms):
            return self.policy(obs, eps)

    # -- losses --------------------------------------------------------------------------------
    def td_target(self, batch: Batch, alpha: float, q_next: np.ndarray, next_log_prob: np.ndarray) -> np.ndarray:
        """``y = r + γ^k (1 − terminated) (min_i Q_i(s', a') − α log π(a'|s'))``, shape ``(B,)``,
        from the ``s'`` half ``q_next`` ``(n, B)`` of the joint pass."""
        soft = q_next.min(axis=0)
        soft -= alpha * next_log_prob
        not_done = batch.discount * (1.0 - batch.terminated)
        return batch.rewards + not_done.astype(self.dtype) * soft

    def critic_loss(self, batch: Batch, alpha: float, eps_next: np.ndarray | None = None,
                    weight: float = 1.0) -> tuple[float, np.ndarray]:
        """``L_Q`` through the joint pass, each critic's ``.grad`` set to its gradient (``y`` a
        constant); ``eps_next`` ``(B, d)`` is the noise of ``a'``. Returns ``(L_Q, Q(s, a))``
        with ``Q`` of shape ``(n, B)``."""
        rows = len(batch.rewards)
        nxt = self.policy(batch.next_obs, eps_next)                 # eval mode: running statistics
        q = self.joint_q(batch.obs, batch.actions, batch.next_obs, self.scaler.to_env(nxt.action))
        loss, grad = td_loss_grad(q[:, :rows], self.td_target(batch, alpha, q[:, rows:], nxt.log_prob), weight)
        full = np.zeros_like(q)
        full[:, :rows] = grad                                       # the s' half: no gradient of its own
        for net, g in zip(self.critics.nets, full):
            net.backward(g[:, None], input_grad=False, accumulate=False)
        return loss, q[:, :rows]

    # -- one update ----------------------------------------------------------------------------
    def train_round(self, batches: list[Batch], reducer: Reducer = SERIAL) -> list[dict[str, float]]:
        """Per batch (noise from :meth:`~agents.sac.SAC.prepare`), one critic step; every
        ``policy_delay``-th also the temperature and the actor (module docstring)."""
        if reducer.share != 1.0:
            raise ValueError(f"{ONE_PROCESS}: use lanes=1")
        c, results = self.config, []
        for batch in batches:
            alpha = self.alpha
            critic_loss, q = self.critic_loss(batch, alpha, batch.noise[:, 0])
            reducer.step(self.critics.optimizers)
            self.n_updates += 1
            if self.n_updates % c.policy_delay == 0:
                sample = self.actor_sample(batch.obs, batch.noise[:, 1])
                if self.learn_alpha:
                    self.last_alpha_loss = self.alpha_loss(sample.log_prob)
                self.last_actor_loss = self.actor_loss(batch.obs, alpha, sample)    # critics in eval mode
                reducer.step([self.actor_optimizer, self.alpha_optimizer] if self.learn_alpha else [self.actor_optimizer])
            metrics = {"critic_loss": critic_loss, "actor_loss": self.last_actor_loss, "ent_coef": alpha,
                       "q_mean": float(q.mean())}
            if self.learn_alpha:
                metrics["ent_coef_loss"] = self.last_alpha_loss
            results.append(metrics)
        return results

    def parallel_modules(self) -> list[tuple[Module, Optimizer | None]]:
        """None: CrossQ's update is never split over processes (batch statistics)."""
        return []

    # -- checkpoints (the networks' running statistics and step counts are buffers in their state_dict) --
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = super().state_dict()
        meta["last_losses"] = [self.last_actor_loss, self.last_alpha_loss]
        return arrays, meta

    def load_state_dict(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        super().load_state_dict(arrays, meta)
        self.last_actor_loss, self.last_alpha_loss = (float(x) for x in meta.get("last_losses", (0.0, 0.0)))

    @classmethod
    def from_state_dict(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> CrossQ:
        _check_critic_size(arrays, meta)
        return rebuild_agent(cls, arrays, meta)


@contextmanager
def _train_mode(layers: list[BatchNorm]) -> Iterator[None]:
    """``layers`` in train mode inside the block, back in eval mode after."""
    for layer in layers:
        layer.training = True
    try:
        yield
    finally:
        for layer in layers:
            layer.training = False


def _check_critic_size(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Refuse critics far larger than a file justifies before building them: the checkpoint's
    own size check counts the actor's widths (``net_arch``), not ``critic_arch``. Allowed: 1 GiB
    of critic state (values, gradients, Adam's two moments), or 256x the file if that is more."""
    config = meta.get("config")
    widths = config.get("critic_arch") if isinstance(config, dict) else None
    if not isinstance(widths, list) or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0
                                               for w in widths):
        return                                       # the config check names the problem
    critics = config.get("n_critics", 2)
    critics = critics if isinstance(critics, int) and not isinstance(critics, bool) and critics > 0 else 1
    sizes = [1, *widths, 1]                          # at least one input and the one output
    needed = critics * sum(a * b for a, b in zip(sizes, sizes[1:])) * 4 * 8
    if needed > max(1 << 30, _BUDGET_FACTOR * sum(int(a.nbytes) for a in arrays.values())):
        raise ValueError(f"its config describes critics of about {needed / 2**20:,.0f} MiB, far more than the "
                         "file's arrays justify")


class CrossQTrainer(OffPolicyTrainer):
    """The off-policy loop (:class:`~agents.loop.OffPolicyTrainer`) with CrossQ's update in one
    process: its batch statistics couple the rows a row split would cut apart."""

    def _lanes(self, agent: Any, lanes: int | str) -> tuple[int, str]:
        if lanes not in ("auto", 1):
            raise ValueError(f"lanes={lanes}: {ONE_PROCESS}; use lanes=1 or auto")
        return 1, "batch statistics couple a batch's rows, so one process"
