"""Pieces shared by the continuous-control agents (SAC, TD3/DDPG, CrossQ): action scaling, the
critic ensemble with its Polyak-averaged target (CrossQ's has none), and the space checks.

Critics take the concatenation ``[obs, action]`` (action in the environment's units) and
return one value per critic::

    Q_i(s, a) = MLP_i([s, a])            i = 0 .. n_critics − 1,   output shape (n, B)

Everything that touches the critics lives in :class:`Critics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

import rlnn
from rlnn.module import Parameter
from rlnn.optim import Adam

from .spaces import check_bounded_box_action, check_box_observation


def check_continuous_spaces(observation_space: spaces.Space, action_space: spaces.Space,
                            algo: str) -> tuple[int, int]:
    """``(obs_dim, act_dim)`` for a 1-D ``Box`` observation and a bounded 1-D ``Box`` action
    space; a ``ValueError`` naming the problem otherwise."""
    obs_dim = check_box_observation(observation_space, algo)
    act_dim = check_bounded_box_action(action_space, algo)
    if np.any(action_space.high <= action_space.low):
        raise ValueError(f"{algo} needs high > low in every action dimension, got {action_space}")
    return obs_dim, act_dim


class ActionScaler:
    """Maps the policy's ``[-1, 1]^d`` to the ``Box`` bounds: ``a = center + scale * u`` with
    ``center = (high + low) / 2`` and ``scale = (high − low) / 2`` (both shape ``(d,)``)."""

    def __init__(self, action_space: spaces.Box, dtype: Any = np.float32) -> None:
        low = np.asarray(action_space.low, dtype=np.float64)
        high = np.asarray(action_space.high, dtype=np.float64)
        self.low, self.high = low.astype(dtype), high.astype(dtype)
        self.center = ((high + low) / 2).astype(dtype)
        self.scale = ((high - low) / 2).astype(dtype)

    def to_env(self, u: np.ndarray) -> np.ndarray:
        """``center + scale * u``; ``u`` of shape ``(..., d)`` in ``[-1, 1]``."""
        return u * self.scale + self.center

    def uniform(self, rng: np.random.Generator, rows: int | None) -> np.ndarray:
        """Actions drawn uniformly from the box (the warm-up before ``learning_starts``):
        ``(d,)`` for ``rows=None``, else ``(rows, d)``; float32."""
        size = None if rows is None else (rows, len(self.low))
        return rng.uniform(self.low, self.high, size=size).astype(np.float32)


def mlp(sizes: Sequence[int], activation: str, rng: np.random.Generator, dtype: Any,
        output_activation: str = "identity", **options: Any) -> rlnn.MLP:
    """``rlnn.MLP(sizes)``; ``options`` are its normalization keywords (``norm``, ``norm_before``,
    ``norm_kwargs``: CrossQ's batch renormalization)."""
    return rlnn.MLP(list(sizes), activation=activation, output_activation=output_activation,
                    rng_or_seed=rng, dtype=dtype, **options)


class Critics:
    """``n`` Q-networks ``MLP([obs_dim + act_dim, *net_arch, 1])``, their target copies and
    one Adam optimiser per network. ``forward`` caches the inputs of each network (the
    networks' own caches), so a backward must follow the ``forward`` it differentiates.
    CrossQ's: ``targets=False`` (none), ``betas`` for Adam, ``norm`` the MLP's norm keywords."""

    def __init__(self, obs_dim: int, act_dim: int, net_arch: Sequence[int], n_critics: int,
                 activation: str, rng: np.random.Generator, dtype: Any, learning_rate: float = 1e-3, *,
                 targets: bool = True, betas: tuple[float, float] = (0.9, 0.999),
                 norm: dict[str, Any] | None = None) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        sizes = [obs_dim + act_dim, *net_arch, 1]
        self.nets = [mlp(sizes, activation, rng, dtype, **(norm or {})) for _ in range(n_critics)]
        self.targets = [net.copy() for net in self.nets] if targets else []
        self.optimizers = [Adam(net.parameters(), lr=learning_rate, betas=betas) for net in self.nets]
        self.dtype = np.dtype(dtype)

    def parameters(self) -> list[Parameter]:
        return [p for net in self.nets for p in net.parameters()]

    def _input(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        x = np.empty((obs.shape[0], self.obs_dim + self.act_dim), dtype=self.dtype)
        x[:, :self.obs_dim] = obs
        x[:, self.obs_dim:] = actions
        return x

    def forward(self, obs: np.ndarray, actions: np.ndarray, count: int | None = None) -> np.ndarray:
        """``Q_i(obs, actions)`` for the first ``count`` critics (all by default): shape ``(count, B)``."""
        x = self._input(obs, actions)
        return np.stack([net(x)[:, 0] for net in self.nets[:count]])

    def target_min(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``min_i Q_target_i(obs, actions)``, shape ``(B,)``."""
        x = self._input(obs, actions)
        q = [target(x)[:, 0] for target in self.targets]
        return np.minimum.reduce(q) if len(q) > 1 else q[0]

    def loss_backward(self, obs: np.ndarray, actions: np.ndarray, target: np.ndarray,
                      weight: float = 1.0) -> tuple[float, np.ndarray]:
        """``L_Q`` (:func:`td_loss_grad`) against ``target`` with each critic's ``.grad`` set to
        its gradient, both times ``weight`` (these rows' share of the batch). Returns
        ``(L_Q, Q)`` with ``Q`` of shape ``(n, B)``."""
        x = self._input(obs, actions)
        loss, qs = 0.0, []
        for net in self.nets:
            q = net(x)[:, 0]
            value, grad = td_loss_grad(q[None], target, weight)
            net.backward(grad[0][:, None], input_grad=False, accumulate=False)
            loss += value
            qs.append(q)
        return loss, np.stack(qs)

    def action_grad(self, grad_q: np.ndarray) -> np.ndarray:
        """``dL/da = sum_i dL/dQ_i · dQ_i/da`` of shape ``(B, act_dim)`` for the last ``forward``,
        given ``grad_q`` of shape ``(k, B)`` for its first ``k`` critics. The critics' ``.grad``
        are left untouched (``param_grads=False``)."""
        grad_a = None
        for net, g in zip(self.nets, grad_q):
            part = net.backward(g[:, None], param_grads=False)[:, self.obs_dim:]
            grad_a = part if grad_a is None else grad_a + part
        return grad_a

    def target_pairs(self, tau: float) -> list[tuple[rlnn.Module, rlnn.Module, float]]:
        """``(target, critic, τ)`` for each critic, as ``reducer.step`` moves targets."""
        return [(target, net, tau) for target, net in zip(self.targets, self.nets)]

    def parallel_modules(self) -> list[tuple[rlnn.Module, Adam | None]]:
        return [*zip(self.nets, self.optimizers), *((target, None) for target in self.targets)]

    def modules(self) -> dict[str, rlnn.Module]:
        """Named networks for checkpoints: ``critic0``, ``critic_target0``, ..."""
        named = {f"critic{i}": net for i, net in enumerate(self.nets)}
        named.update({f"critic_target{i}": net for i, net in enumerate(self.targets)})
        return named

    def named_optimizers(self) -> dict[str, Adam]:
        """Named optimisers for checkpoints: ``critic0``, ``critic1``, ..."""
        return {f"critic{i}": opt for i, opt in enumerate(self.optimizers)}


def td_loss_grad(q: np.ndarray, target: np.ndarray, weight: float = 1.0) -> tuple[float, np.ndarray]:
    """SB3's critic loss ``L = ½ Σ_i mean_b (Q_i − y)²`` for ``q`` of shape ``(n, B)`` and
    ``y`` of shape ``(B,)``; returns ``(L, dL/dQ)`` with ``dL/dQ_i = (Q_i − y) / B``, both times
    ``weight``."""
    diff = q - target
    scale = weight / q.shape[1]
    loss = 0.5 * float(np.vdot(diff, diff)) * scale
    diff *= scale
    return loss, diff
