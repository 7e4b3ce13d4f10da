"""The benchmark tasks (the comparison with Stable-Baselines3, :mod:`~experiments.benchmarks.compare_sb3`,
and the bounds, :mod:`~experiments.benchmarks.lower_bounds`) and the work each must do: its tuned
hyperparameters, its budget (PPO and A2C in whole rollouts), the step its updates start at, and
the FLOPs of one update, counted from the layer sizes.

A product ``(B, i) @ (i, o)`` is ``2 B i o`` FLOPs. An update's forward passes, weight gradients
and the input gradients back-propagation needs (every layer's but the first, unless something
needs ``dL/dx``, as an actor needs ``dQ/da``) are counted; element-wise work is not.
"""

from __future__ import annotations

import itertools
from typing import Any

from agents import ON_POLICY

TASKS: dict[str, dict[str, Any]] = {
    "dqn-cartpole": {"algo": "dqn", "env_id": "CartPole-v1", "steps": 50_000,
                     # SB3's DQN has no Double-DQN: turn ours off so both do the same work.
                     "rlnn_overrides": {"double_q": False}},
    "sac-pendulum": {"algo": "sac", "env_id": "Pendulum-v1", "steps": 20_000, "rlnn_overrides": {}},
    "td3-pendulum": {"algo": "td3", "env_id": "Pendulum-v1", "steps": 20_000, "rlnn_overrides": {}},
    "ppo-cartpole": {"algo": "ppo", "env_id": "CartPole-v1", "steps": 100_000, "rlnn_overrides": {}},
    "ppo-lunarlander": {"algo": "ppo", "env_id": "LunarLander-v3", "steps": 1_000_000, "rlnn_overrides": {}},
    # the zoo trains A2C CartPole for 500k; 100k is enough to time it
    "a2c-cartpole": {"algo": "a2c", "env_id": "CartPole-v1", "steps": 100_000, "rlnn_overrides": {}},
}
DEFAULT_TASKS = ("dqn-cartpole", "sac-pendulum", "td3-pendulum")


def zoo_hyperparameters(task: str) -> dict[str, Any]:
    from experiments.configs import tuned_config
    spec = TASKS[task]
    return dict(tuned_config(spec["algo"], spec["env_id"])["hyperparameters"])


def on_policy(task: str) -> bool:
    return TASKS[task]["algo"] in ON_POLICY


def agent_config(algo: str, hp: dict[str, Any]) -> Any:
    """``algo``'s config dataclass with ``hp`` over its defaults."""
    import agents
    from agents.config import config_from_dict
    return config_from_dict(agents.ALGORITHMS[algo].Config, hp)


def rollout_size(config: Any) -> int:
    return config.n_steps * config.n_envs


def minibatch_rows(config: Any) -> int:
    """Rows of an on-policy minibatch (``batch_size`` None: the whole rollout)."""
    return min(config.batch_size or rollout_size(config), rollout_size(config))


def on_policy_updates(config: Any, steps: int) -> int:
    """Minibatch steps of a run of ``steps`` (full rollouts only; without ``target_kl`` stops)."""
    return steps // rollout_size(config) * config.n_epochs * -(-rollout_size(config) // minibatch_rows(config))


def budget(task: str, steps: int) -> int:
    """The env steps both libraries run for ``steps``: for PPO and A2C rounded up to whole rollouts."""
    if not on_policy(task):
        return steps
    size = rollout_size(agent_config(TASKS[task]["algo"], zoo_hyperparameters(task)))
    return -(-steps // size) * size


def first_update_step(task: str) -> int:
    """The env step updates start at: ``learning_starts`` off-policy, the first rollout's end on-policy."""
    if on_policy(task):
        return rollout_size(agent_config(TASKS[task]["algo"], zoo_hyperparameters(task)))
    return zoo_hyperparameters(task)["learning_starts"]


# -- FLOPs the updates must do ------------------------------------------------------------------

def _layers(sizes: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(sizes))


def mlp_forward_flops(batch: int, sizes: list[int]) -> int:
    return sum(2 * batch * i * o for i, o in _layers(sizes))


def mlp_backward_flops(batch: int, sizes: list[int], weights: bool = True, first_input: bool = False) -> int:
    """dW for every layer (if ``weights``) plus dX for every layer but the first (unless asked)."""
    layers = _layers(sizes)
    flops = sum(2 * batch * i * o for i, o in layers) if weights else 0
    flops += sum(2 * batch * i * o for i, o in layers[1:])
    if first_input:
        flops += 2 * batch * layers[0][0] * layers[0][1]
    return flops


def flops_per_update(task: str, obs_dim: int, act_dim: int, hp: dict[str, Any]) -> float:
    """The products of one update of ``task``'s algorithm with ``hp`` (``act_dim``: the policy
    head's outputs, the action count for a discrete space). PPO and A2C: one minibatch step,
    forward and backward of actor and critic (or of the shared trunk and both heads)."""
    algo = TASKS[task]["algo"]
    if algo in ON_POLICY:
        return on_policy_flops(agent_config(algo, hp), obs_dim, act_dim)
    b, arch = hp["batch_size"], hp["net_arch"]
    if algo == "dqn":   # target forward on s', online forward on s, backward
        q = [obs_dim, *arch, act_dim]
        return mlp_forward_flops(b, q) * 2 + mlp_backward_flops(b, q)
    actor = [obs_dim, *arch, act_dim * (2 if algo == "sac" else 1)]
    critic = [obs_dim + act_dim, *arch, 1]
    critic_step = (mlp_forward_flops(b, actor) + 2 * mlp_forward_flops(b, critic)      # target on s'
                   + 2 * (mlp_forward_flops(b, critic) + mlp_backward_flops(b, critic)))  # twin critics
    actor_step = (mlp_forward_flops(b, actor) + mlp_backward_flops(b, actor)
                  + (2 if algo == "sac" else 1) * (mlp_forward_flops(b, critic)
                                                   + mlp_backward_flops(b, critic, weights=False, first_input=True)))
    if algo == "td3":
        actor_step /= hp.get("policy_delay", 2)
    return critic_step + actor_step


def on_policy_flops(config: Any, obs_dim: int, out_dim: int) -> float:
    """Forward and backward (no input gradient of the observations) of the actor
    ``[obs, *net_arch, out]`` and the critic ``[obs, *net_arch, 1]`` on a minibatch; with
    ``share_net`` of the trunk ``[obs, *net_arch]`` and the two heads, whose input gradients the
    trunk needs."""
    b, arch = minibatch_rows(config), list(config.net_arch)
    if not config.share_net:
        nets = ([obs_dim, *arch, out_dim], [obs_dim, *arch, 1])
        return sum(mlp_forward_flops(b, s) + mlp_backward_flops(b, s) for s in nets)
    trunk, heads = [obs_dim, *arch], ([arch[-1], out_dim], [arch[-1], 1])
    return (mlp_forward_flops(b, trunk) + mlp_backward_flops(b, trunk)
            + sum(mlp_forward_flops(b, h) + mlp_backward_flops(b, h, first_input=True) for h in heads))
