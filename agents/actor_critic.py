"""Pieces shared by the continuous-control agents (SAC, TD3/DDPG): action scaling, the critic
ensemble with its Polyak-averaged target, and the space checks.

Critics take the concatenation ``[obs, action]`` (action in the environment's units) and
return one value per critic::

    Q_i(s, a) = MLP_i([s, a])            i = 0 .. n_critics − 1,   output shape (n, B)

Everything that touches the critics lives in :class:`Critics`, which can run each critic's work
on its own core (:mod:`agents.lanes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

import rlnn
from rlnn.module import Parameter
from rlnn.optim import Adam, polyak_update

from .lanes import Lanes
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
    """``n`` Q-networks ``MLP([obs_dim + act_dim, *net_arch, 1])``, their target copies and
    one Adam optimiser per network.

    Per-network work runs through :class:`~agents.lanes.Lanes`: one thread per critic when
    ``lanes.workers > 1`` (results are identical either way). ``forward`` caches the inputs
    of each network (the networks' own caches), so a ``backward`` must follow the ``forward``
    it differentiates.
    """

    def __init__(self, obs_dim: int, act_dim: int, net_arch: Sequence[int], n_critics: int,
                 activation: str, rng: np.random.Generator, dtype: Any, learning_rate: float = 1e-3) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        sizes = [obs_dim + act_dim, *net_arch, 1]
        self.nets = [mlp(sizes, activation, rng, dtype) for _ in range(n_critics)]
        self.targets = [net.copy() for net in self.nets]
        self.optimizers = [Adam(net.parameters(), lr=learning_rate) for net in self.nets]
        self.dtype = np.dtype(dtype)
        self.lanes = Lanes()
        self._indices = list(range(n_critics))

    def parameters(self) -> list[Parameter]:
        return [p for net in self.nets for p in net.parameters()]

    def _input(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        x = np.empty((obs.shape[0], self.obs_dim + self.act_dim), dtype=self.dtype)
        x[:, :self.obs_dim] = obs
        x[:, self.obs_dim:] = actions
        return x

    def _map(self, fn: Any, items: list[int], serial: bool) -> list[Any]:
        """Per-critic work on the lanes, or in a plain loop with ``serial`` (a process that
        already splits the batch's rows with another must not start threads of its own)."""
        return [fn(i) for i in items] if serial else self.lanes.map(fn, items)

    def forward(self, obs: np.ndarray, actions: np.ndarray, count: int | None = None,
                serial: bool = False) -> np.ndarray:
        """``Q_i(obs, actions)`` for the first ``count`` critics (all by default): shape ``(count, B)``."""
        x = self._input(obs, actions)
        return np.stack(self._map(lambda i: self.nets[i](x)[:, 0], self._indices[:count], serial))

    def target_min(self, obs: np.ndarray, actions: np.ndarray, serial: bool = False) -> np.ndarray:
        """``min_i Q_target_i(obs, actions)``, shape ``(B,)``."""
        x = self._input(obs, actions)
        q = self._map(lambda i: self.targets[i](x)[:, 0], self._indices, serial)
        return np.minimum.reduce(q) if len(q) > 1 else q[0]

    def fit(self, obs: np.ndarray, actions: np.ndarray, target: np.ndarray, step: bool = True,
            weight: float = 1.0, serial: bool = False) -> tuple[float, np.ndarray]:
        """``L_Q`` (:func:`td_loss_grad`) against ``target``, each critic's ``.grad`` set to its
        gradient (zeroed first) and, with ``step``, one Adam step of every critic; loss and
        gradient times ``weight`` (these rows' share of a batch split over processes). Returns
        ``(L_Q, Q)`` with ``Q`` of shape ``(n, B)`` from before the step. Each critic's forward,
        backward and step form one lane."""
        x = self._input(obs, actions)

        def fit_one(i: int) -> tuple[float, np.ndarray]:
            q = self.nets[i](x)[:, 0]
            loss, grad = td_loss_grad(q[None], target, weight)
            self.nets[i].backward(grad[0][:, None], input_grad=False, accumulate=False)
            if step:
                self.optimizers[i].step()
            return loss, q

        results = self._map(fit_one, self._indices, serial)
        return sum(loss for loss, _ in results), np.stack([q for _, q in results])

    def action_grad(self, grad_q: np.ndarray, serial: bool = False) -> np.ndarray:
        """``dL/da = sum_i dL/dQ_i · dQ_i/da`` of shape ``(B, act_dim)`` for the last ``forward``,
        given ``grad_q`` of shape ``(k, B)`` for its first ``k`` critics. The critics' ``.grad``
        are left untouched (``param_grads=False``)."""
        grads = self._map(
            lambda i: self.nets[i].backward(grad_q[i][:, None], param_grads=False)[:, self.obs_dim:],
            self._indices[:len(grad_q)], serial)
        grad_a = grads[0]
        for g in grads[1:]:
            grad_a = grad_a + g
        return grad_a

    def update_targets(self, tau: float, serial: bool = False) -> None:
        self._map(lambda i: polyak_update(self.targets[i].parameters(), self.nets[i].parameters(), tau),
                  self._indices, serial)

    def modules(self) -> dict[str, rlnn.Module]:
        """Named networks for checkpoints: ``critic0``, ``critic_target0``, ..."""
        named = {f"critic{i}": net for i, net in enumerate(self.nets)}
        named.update({f"critic_target{i}": net for i, net in enumerate(self.targets)})
        return named

    def named_optimizers(self) -> dict[str, Adam]:
        """Named optimisers for checkpoints: ``critic0``, ``critic1``, ..."""
        return {f"critic{i}": opt for i, opt in enumerate(self.optimizers)}

    def load_joint_optimizer(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Read the optimiser state of a checkpoint written when one Adam (``"critic"``) held
        every critic's parameters in order; newer checkpoints have one per critic."""
        steps = meta.get("optimizer_steps", {})
        if "critic" not in steps or "critic0" in steps:
            return
        offset = 0
        for opt in self.optimizers:
            count = len(opt.params)
            state = {}
            for key, arr in arrays.items():        # the names as saved (the optimiser converts older ones)
                if key.startswith("opt.critic/"):
                    index, _, name = key[len("opt.critic/"):].partition(".")
                    if offset <= int(index) < offset + count:
                        state[f"{int(index) - offset}.{name}"] = arr
            opt.load_state_dict({"t": steps["critic"], "state": state})
            offset += count


def td_loss_grad(q: np.ndarray, target: np.ndarray, weight: float = 1.0) -> tuple[float, np.ndarray]:
    """SB3's critic loss ``L = ½ Σ_i mean_b (Q_i − y)²`` for ``q`` of shape ``(n, B)`` and
    ``y`` of shape ``(B,)``; returns ``(L, dL/dQ)`` with ``dL/dQ_i = (Q_i − y) / B``, both times
    ``weight``."""
    diff = q - target
    scale = weight / q.shape[1]
    loss = 0.5 * float(np.vdot(diff, diff)) * scale
    diff *= scale
    return loss, diff
