"""Pieces shared by the continuous-control agents (SAC, TD3/DDPG): action scaling, the critic
ensemble with its Polyak-averaged target, and the space checks.

Critics take the concatenation ``[obs, action]`` (action in the environment's units) and
return one value per critic::

    Q_i(s, a) = MLP_i([s, a])            i = 0 .. n_critics − 1,   output shape (n, B)

Everything that touches the critics lives in :class:`Critics`, so fusing the twin networks into
one batched matmul later changes this class only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

import rlnn
from rlnn.module import Parameter
from rlnn.optim import polyak_update

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

    def to_unit(self, a: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_env`."""
        return (a - self.center) / self.scale


def mlp(sizes: Sequence[int], activation: str, rng: np.random.Generator, dtype: Any,
        output_activation: str = "identity") -> rlnn.MLP:
    return rlnn.MLP(list(sizes), activation=activation, output_activation=output_activation,
                    rng_or_seed=rng, dtype=dtype)


class Critics:
    """``n`` Q-networks ``MLP([obs_dim + act_dim, *net_arch, 1])`` and their target copies.

    ``forward`` caches the inputs of each network (the networks' own caches), so a ``backward``
    must follow the ``forward`` it differentiates.
    """

    def __init__(self, obs_dim: int, act_dim: int, net_arch: Sequence[int], n_critics: int,
                 activation: str, rng: np.random.Generator, dtype: Any) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        sizes = [obs_dim + act_dim, *net_arch, 1]
        self.nets = [mlp(sizes, activation, rng, dtype) for _ in range(n_critics)]
        self.targets = [net.copy() for net in self.nets]
        self.dtype = np.dtype(dtype)
        self._x: np.ndarray | None = None

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
        q = self.targets[0](x)[:, 0]
        for net in self.targets[1:]:
            q = np.minimum(q, net(x)[:, 0])
        return q

    def zero_grad(self) -> None:
        for net in self.nets:
            net.zero_grad()

    def backward_params(self, grad_q: np.ndarray) -> None:
        """Add ``dL/dθ_i`` given ``grad_q = dL/dQ`` of shape ``(n, B)``; no input gradient."""
        for net, g in zip(self.nets, grad_q):
            net.backward(g[:, None], input_grad=False)

    def action_grad(self, grad_q: np.ndarray) -> np.ndarray:
        """``dL/da = sum_i dL/dQ_i · dQ_i/da`` of shape ``(B, act_dim)`` for the last ``forward``,
        given ``grad_q`` of shape ``(k, B)`` for its first ``k`` critics. The critics' ``.grad``
        are left untouched (``param_grads=False``)."""
        grad_a = None
        for net, g in zip(self.nets, grad_q):
            gx = net.backward(g[:, None], param_grads=False)[:, self.obs_dim:]
            grad_a = gx if grad_a is None else grad_a + gx
        return grad_a

    def update_targets(self, tau: float) -> None:
        for target, net in zip(self.targets, self.nets):
            polyak_update(target.parameters(), net.parameters(), tau)

    def modules(self) -> dict[str, rlnn.Module]:
        """Named networks for checkpoints: ``critic0``, ``critic_target0``, ..."""
        named = {f"critic{i}": net for i, net in enumerate(self.nets)}
        named.update({f"critic_target{i}": net for i, net in enumerate(self.targets)})
        return named


def td_loss_grad(q: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """SB3's critic loss ``L = ½ Σ_i mean_b (Q_i − y)²`` for ``q`` of shape ``(n, B)`` and
    ``y`` of shape ``(B,)``; returns ``(L, dL/dQ)`` with ``dL/dQ_i = (Q_i − y) / B``."""
    diff = q - target
    batch = q.shape[1]
    loss = 0.5 * float(np.vdot(diff, diff)) / batch
    diff *= 1.0 / batch
    return loss, diff
