"""How fast could numpy run the benchmark's tasks, at best, on this machine? Lower bounds.

    python -m experiments.benchmarks.lower_bounds --sb3-seconds dqn-cartpole=24.5

Not agents: the least work an update must do, timed on one BLAS thread per core, for the two
cores splitting each batch's rows (the benchmark's "2L") with nothing exchanged between them
and no barrier, which any real split adds.

**DQN CartPole-v1** (zoo: batch 64, a 4-256-256-2 ReLU network, Huber loss, global-norm clip,
Adam; rounds of 128 updates every 256 env steps): the leanest numpy update I can write, every
buffer allocated once, every product written in place with ``out=``, no framework, no checks:

* ``1 core``: the whole update plus its share of the round's target pass (``Q_target`` on the
  next observations of all 128 batches stacked, one large product);
* ``rows split``: one core's share when two cores split each batch's rows (B/2 rows forward and
  backward, half of Adam's passes, half of the target pass);
* ``columns split``: one core's share when two cores split the 256x256 layer's output units (all
  rows through half the columns; the thin first and last layers on both; half of Adam, half of
  the target pass).

Add the env loop's floor (a bare CartPole loop: ``env.step`` through ``gym.make``'s wrappers, the
greedy action from a one-row forward pass, the transition stored) and a 50k-step run needs at
least ``updates × best split + steps × env loop`` seconds.

**SAC and TD3 Pendulum-v1** (zoo: batch 256, 256-256 and 400-300 networks, one update per env
step): per core, each matrix product one update needs for its 128 rows (forward passes, weight
gradients, the input gradients back-propagation needs), timed alone at its real shape and
layout; the element-wise work that goes with them (bias adds, ReLUs, bias gradients, ReLU masks),
each operation timed alone in place; Adam's and the target networks' passes over that core's
half of the parameters; the env loop's floor (one env step per update, the action from the
actor's one-row forward pass). Everything else an update does (the policy's squashing, the
losses, exchanging gradients, the Python that calls it all) comes on top. The bound is printed
against the benchmark's "floor" (the same FLOPs at the 2-thread 1024^3 matmul peak).

Each product of that bound is timed alone, on the same operands call after call, which therefore
stay in the core's caches. An update cannot do that: every layer has weights and activations of
its own. So the same products are also timed back to back, each on operands of its own, with no
Python between them but the loop over the calls, and the bound is printed again with those.

**PPO and A2C** (``--tasks ppo-cartpole,ppo-lunarlander,a2c-cartpole``; the shipped tuned
configs): the updates run in one process on one BLAS thread, so the bound is one core's.

* update floor: one minibatch step's FLOPs (forward and backward of actor and critic, or of the
  shared trunk and both heads, at the config's ``batch_size`` and widths:
  :func:`experiments.benchmarks.tasks.on_policy_flops`) at the 1-thread matmul peak; the
  same products timed alone and back to back on operands of their own, plus the bias, tanh (or
  ReLU) and mask passes and one Adam step over all parameters;
* the whole run's: those times the run's minibatch steps (its budget in whole rollouts, as
  ``compare_sb3`` runs it);
* env stepping alone: the run's ``n_envs`` envs in the vector env rlnn steps them in
  (:func:`agents.collection.make_vector_env`, finished sub-envs reset by mask; one plain env for
  ``n_envs`` 1) taking ``--env-steps`` random actions drawn beforehand, per transition, times the
  run's env steps: what no learner on this vector env can beat.

A run needs at least env stepping + the update floor; the policy's forward pass on every vector
step, the distributions, losses and GAE, and the Python around them come on top. With
``--wall-seconds TASK=SECONDS`` (a run's wall time, e.g. rlnn's from ``compare_sb3``) the report
states its distance to that sum, and with ``--sb3-seconds`` the speed-up the sum allows.

With ``--sb3-seconds TASK=SECONDS`` (Stable-Baselines3's wall time from ``compare_sb3``) the DQN
bound is also printed as the speed-up it allows.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rlnn.module import Parameter
from rlnn.optim import Adam as RlnnAdam
from rlnn.optim import polyak_arrays

F32 = np.float32


def _median_us(fn: Callable[[], Any], calls: int, repeats: int = 7) -> float:
    for _ in range(max(calls // 20, 5)):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls * 1e6)
    return float(np.median(times))


class ClippedAdam:
    """rlnn's Adam step (its own code, no copy) on ``size`` float32 parameters, after a
    global-norm clip at 10 written inline (``rlnn.optim.clip_grad_norm`` would add the cost of
    finding the packed spans on every call, which a bound should not charge)."""

    def __init__(self, size: int, rng: np.random.Generator, lr: float = 1e-3) -> None:
        self.param = Parameter(rng.standard_normal(size).astype(F32))
        self.param.grad[...] = rng.standard_normal(size).astype(F32) * 1e-3
        self.optimizer = RlnnAdam([self.param], lr=lr)

    def __call__(self) -> None:
        grad = self.param.grad
        norm = math.sqrt(float(np.vdot(grad, grad)))
        if norm > 10.0:
            np.multiply(grad, 10.0 / norm, out=grad)
        self.optimizer.step()


# -- DQN: the whole update ------------------------------------------------------------------------

class LeanDQNStep:
    """One DQN gradient step on ``rows`` rows, over ``cols`` of the hidden layer's output units,
    with Adam over ``adam_share`` of the parameter vector (a split's share)."""

    def __init__(self, rows: int, cols: int = 256, hidden: int = 256, obs: int = 4, actions: int = 2,
                 adam_share: float = 1.0, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.w1 = (rng.standard_normal((obs, hidden)) * math.sqrt(2 / obs)).astype(F32)
        self.b1 = np.zeros(hidden, F32)
        self.w2 = (rng.standard_normal((hidden, cols)) * math.sqrt(2 / hidden)).astype(F32)
        self.b2 = np.zeros(cols, F32)
        self.w3 = (rng.standard_normal((cols, actions)) * math.sqrt(1 / cols)).astype(F32)
        self.b3 = np.zeros(actions, F32)
        self.grads = [np.zeros_like(p) for p in (self.w1, self.b1, self.w2, self.b2, self.w3, self.b3)]
        self.adam = ClippedAdam(int(adam_share * sum(p.size for p in self.grads)), rng, lr=2.3e-3)
        self.x = rng.standard_normal((rows, obs)).astype(F32)
        self.y = rng.standard_normal(rows).astype(F32)
        self.flat_taken = np.arange(rows) * actions + rng.integers(actions, size=rows)
        self.h1, self.m1, self.g1 = np.empty((rows, hidden), F32), np.empty((rows, hidden), bool), np.empty((rows, hidden), F32)
        self.h2, self.m2, self.g2 = np.empty((rows, cols), F32), np.empty((rows, cols), bool), np.empty((rows, cols), F32)
        self.q, self.g3 = np.empty((rows, actions), F32), np.zeros((rows, actions), F32)
        self.zeros1, self.zeros2 = np.zeros((rows, hidden), F32), np.zeros((rows, cols), F32)

    def __call__(self) -> float:
        h1, h2, q, g1, g2, g3 = self.h1, self.h2, self.q, self.g1, self.g2, self.g3
        gw1, gb1, gw2, gb2, gw3, gb3 = self.grads
        np.matmul(self.x, self.w1, out=h1)
        np.add(h1, self.b1, out=h1)
        np.maximum(h1, self.zeros1, out=h1)
        np.matmul(h1, self.w2, out=h2)
        np.add(h2, self.b2, out=h2)
        np.maximum(h2, self.zeros2, out=h2)
        np.matmul(h2, self.w3, out=q)
        np.add(q, self.b3, out=q)
        error = q.ravel()[self.flat_taken] - self.y
        clipped = np.clip(error, -1.0, 1.0)
        scale = 1.0 / len(error)    # the mean over the batch
        loss = (float(np.vdot(clipped, error)) - 0.5 * float(np.vdot(clipped, clipped))) * scale
        g3.ravel()[self.flat_taken] = clipped * scale
        np.matmul(h2.T, g3, out=gw3)
        np.sum(g3, axis=0, out=gb3)
        np.matmul(g3, self.w3.T, out=g2)
        np.greater(h2, 0, out=self.m2)
        np.multiply(g2, self.m2, out=g2)
        np.matmul(h1.T, g2, out=gw2)
        np.sum(g2, axis=0, out=gb2)
        np.matmul(g2, self.w2.T, out=g1)
        np.greater(h1, 0, out=self.m1)
        np.multiply(g1, self.m1, out=g1)
        np.matmul(self.x.T, g1, out=gw1)
        np.sum(g1, axis=0, out=gb1)
        g3.ravel()[self.flat_taken] = 0.0
        self.adam()
        return loss


def target_pass_us(rows: int, steps: int, hidden: int = 256, obs: int = 4, actions: int = 2) -> float:
    """µs per update of ``max_a Q_target(s', a)`` on ``rows × steps`` stacked next observations."""
    rng = np.random.default_rng(1)
    w1, w2, w3 = (rng.standard_normal(s).astype(F32) for s in ((obs, hidden), (hidden, hidden), (hidden, actions)))
    x = rng.standard_normal((rows * steps, obs)).astype(F32)
    h1, h2 = np.empty((rows * steps, hidden), F32), np.empty((rows * steps, hidden), F32)
    zeros = np.zeros_like(h1)

    def one() -> None:
        np.matmul(x, w1, out=h1)
        np.maximum(h1, zeros, out=h1)
        np.matmul(h1, w2, out=h2)
        np.maximum(h2, zeros, out=h2)
        (h2 @ w3).max(axis=1)
    return _median_us(one, 20) / steps


def env_loop_us(env_id: str, hidden: list[int], steps: int = 20_000) -> float:
    """µs per env step of a bare loop: the action from a one-row forward pass of an MLP with
    ``hidden`` layers (argmax for a discrete space, tanh scaled to the bounds for a box), the
    step through ``gym.make``'s wrappers, the transition stored in preallocated arrays."""
    import gymnasium as gym

    env = gym.make(env_id)
    discrete = hasattr(env.action_space, "n")
    obs_dim = env.observation_space.shape[0]
    out_dim = int(env.action_space.n) if discrete else env.action_space.shape[0]
    rng = np.random.default_rng(5)
    layers = [(rng.standard_normal((i, o)).astype(F32) * 0.1, np.zeros(o, F32))
              for i, o in itertools.pairwise([obs_dim, *hidden, out_dim])]
    store = np.empty((steps, 2 * obs_dim + out_dim + 1), F32)
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for i in range(steps):
        h = obs
        for w, b in layers[:-1]:
            h = np.maximum(h @ w + b, 0)
        out = h @ layers[-1][0] + layers[-1][1]
        action = int(out.argmax()) if discrete else np.tanh(out) * env.action_space.high
        next_obs, reward, terminated, truncated, _ = env.step(action)
        row = store[i]
        row[:obs_dim], row[obs_dim:2 * obs_dim], row[2 * obs_dim:-1], row[-1] = obs, next_obs, action, reward
        obs = env.reset()[0] if terminated or truncated else next_obs
    return (time.perf_counter() - start) / steps * 1e6


def dqn_bound(calls: int, sb3_seconds: float | None) -> None:
    from experiments.benchmarks.tasks import TASKS, zoo_hyperparameters

    hp = zoo_hyperparameters("dqn-cartpole")
    batch, round_steps, total = hp["batch_size"], hp["gradient_steps"], TASKS["dqn-cartpole"]["steps"]
    updates = (total - hp["learning_starts"]) // hp["train_freq"] * round_steps
    one_core = _median_us(LeanDQNStep(batch), calls) + target_pass_us(batch, round_steps)
    half_target = target_pass_us(batch // 2, round_steps)
    rows = _median_us(LeanDQNStep(batch // 2, adam_share=0.5), calls) + half_target
    cols = _median_us(LeanDQNStep(batch, cols=128, adam_share=0.5), calls) + half_target
    env_us = env_loop_us("CartPole-v1", hp["net_arch"])
    best = min(rows, cols)
    bound = updates * best * 1e-6 + total * env_us * 1e-6
    print(f"dqn-cartpole, µs per update: 1 core {one_core:.0f}, rows split {rows:.0f}, columns split {cols:.0f} "
          f"(per core, nothing exchanged); env loop {env_us:.1f} µs per step")
    print(f"  a {total}-step run ({updates} updates) needs at least {bound:.2f} s "
          f"({updates * best * 1e-6:.2f} s of updates + {total * env_us * 1e-6:.2f} s of env loop)")
    if sb3_seconds:
        print(f"  against Stable-Baselines3's {sb3_seconds:.1f} s: at most {sb3_seconds / bound:.2f}x faster; "
              f"5x needs {sb3_seconds / 5:.2f} s")


# -- SAC and TD3: the matrix products and the parameter passes --------------------------------------

def _mlp_products(rows: int, sizes: list[int], forward: bool = True, weight_grads: bool = False,
                  input_grads: int = 0) -> list[tuple[int, int, int, str]]:
    """``(m, k, n, kind)`` of the products of one pass through an MLP of ``sizes`` on ``rows``
    rows: forward ``x @ W``, weight gradients ``x.T @ g``, and the input gradients ``g @ W.T`` of
    the last ``input_grads`` layers."""
    layers = list(itertools.pairwise(sizes))
    out = [(rows, i, o, "forward") for i, o in layers] if forward else []
    out += [(i, rows, o, "weight") for i, o in layers] if weight_grads else []
    out += [(rows, o, i, "input") for i, o in layers[len(layers) - input_grads:]] if input_grads else []
    return out


ACTIVATION_GRADS = {"relu": "mask", "tanh": "tanh_grad"}   # the backward pass of each activation timed


def _mlp_elementwise(rows: int, sizes: list[int], forward: bool = True, weight_grads: bool = False,
                     input_grads: int = 0, activation: str = "relu") -> list[tuple[str, int, int]]:
    """``(kind, rows, width)`` of the element-wise work that goes with :func:`_mlp_products`'s
    products: a bias add per layer and an activation (ReLU or tanh) per hidden layer going
    forward; a bias gradient (a sum over rows) per layer with the weight gradients; the
    activation's backward (ReLU: compare, multiply; tanh: ``g (1 − y²)``) where an input
    gradient enters a hidden layer's output."""
    if activation not in ACTIVATION_GRADS:
        raise ValueError(f"the bound times {sorted(ACTIVATION_GRADS)} activations, not {activation!r}")
    layers = list(itertools.pairwise(sizes))
    out = [("bias", rows, o) for _, o in layers] + [(activation, rows, o) for _, o in layers[:-1]] if forward else []
    out += [("bias_grad", rows, o) for _, o in layers] if weight_grads else []
    out += [(ACTIVATION_GRADS[activation], rows, layers[t][0])
            for t in range(len(layers) - input_grads, len(layers)) if t >= 1]
    return out


def actor_critic_passes(algo: str, rows: int, obs: int, act: int, arch: list[int],
                        ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The MLP passes (``rows, sizes, forward, weight_grads, input_grads``) every update makes
    on ``rows`` rows (target, critic step), and those of an actor step (every update for SAC,
    every ``policy_delay``-th for TD3)."""
    actor = [obs, *arch, act * (2 if algo == "sac" else 1)]
    critic = [obs + act, *arch, 1]
    every = ([(rows, actor, True, False, 0)]                                              # policy on s'
             + 2 * [(rows, critic, True, False, 0)]                                       # target critics
             + 2 * [(rows, critic, True, True, len(critic) - 2)])                         # critic step
    actor_step = ([(rows, actor, True, True, len(actor) - 2)]
                  + (2 if algo == "sac" else 1) * [(rows, critic, True, False, len(critic) - 1)])
    return every, actor_step


def actor_critic_products(algo: str, rows: int, obs: int, act: int, arch: list[int],
                          ) -> tuple[list[tuple[int, int, int, str]], list[tuple[int, int, int, str]]]:
    """The products of :func:`actor_critic_passes`: every update's, and an actor step's."""
    every, actor_step = actor_critic_passes(algo, rows, obs, act, arch)
    return ([p for spec in every for p in _mlp_products(*spec)],
            [p for spec in actor_step for p in _mlp_products(*spec)])


def elementwise_us(ops: list[tuple[str, int, int]], calls: int) -> float:
    """Sum of the median time of each element-wise operation alone, in place as rlnn does it."""
    rng = np.random.default_rng(6)
    total = 0.0
    for kind, rows, width in ops:
        h, g = rng.standard_normal((2, rows, width)).astype(F32)
        b, zeros, mask = np.zeros(width, F32), np.zeros((rows, width), F32), np.empty((rows, width), bool)
        y, slope, out = np.tanh(h), np.empty_like(h), np.empty_like(g)   # a tanh's output; dL/dx apart from dL/dy
        one = {"bias": lambda h=h, b=b: np.add(h, b, out=h),
               "relu": lambda h=h, z=zeros: np.maximum(h, z, out=h),
               "tanh": lambda h=h: np.tanh(h, out=h),
               "bias_grad": lambda g=g, b=b: np.sum(g, axis=0, out=b),
               "mask": lambda h=h, g=g, m=mask: np.multiply(g, np.greater(h, 0, out=m), out=g),
               "tanh_grad": lambda y=y, g=g, s=slope, o=out: np.multiply(
                   g, np.subtract(1.0, np.multiply(y, y, out=s), out=s), out=o)}[kind]
        total += _median_us(one, calls)
    return total


def _product_calls(products: list[tuple[int, int, int, str]]) -> list[Callable[[], Any]]:
    """One call per product, each on operands of its own laid out as in ``rlnn.Linear``."""
    rng = np.random.default_rng(2)
    calls = []
    for m, k, n, kind in products:
        if kind == "weight":            # x.T @ g with x (rows, in), g (rows, out)
            a, b = rng.standard_normal((k, m)).astype(F32).T, rng.standard_normal((k, n)).astype(F32)
        elif kind == "input":           # g @ W.T with W (in, out)
            a, b = rng.standard_normal((m, k)).astype(F32), rng.standard_normal((n, k)).astype(F32).T
        else:                           # x @ W
            a, b = rng.standard_normal((m, k)).astype(F32), rng.standard_normal((k, n)).astype(F32)
        out = np.empty((m, n), F32)
        if k == 1:                      # rlnn makes an outer product a broadcast multiply
            calls.append(lambda a=a, b=b, out=out: np.multiply(a, b, out=out))
        else:
            calls.append(lambda a=a, b=b, out=out: np.matmul(a, b, out=out))
    return calls


def products_us(products: list[tuple[int, int, int, str]], calls: int) -> float:
    """Sum of the median time of each product alone (the same operands call after call, so
    they stay in the core's caches)."""
    return sum(_median_us(call, calls) for call in _product_calls(products))


def products_in_sequence_us(products: list[tuple[int, int, int, str]], calls: int) -> float:
    """The same products run back to back, each on operands of its own, as an update must run
    them (every layer has its own weights and activations): no Python between them but the
    loop over the calls. Against :func:`products_us` this is what leaving the caches costs."""
    sequence = _product_calls(products)

    def update() -> None:
        for call in sequence:
            call()
    return _median_us(update, max(calls // 10, 20))


def polyak_us(size: int, calls: int) -> float:
    rng = np.random.default_rng(3)
    target, source = rng.standard_normal((2, size)).astype(F32)
    return _median_us(lambda: polyak_arrays(target, source, 0.005), calls)


def actor_critic_bound(task: str, calls: int) -> None:
    import gymnasium as gym

    from experiments.benchmarks.tasks import TASKS, flops_per_update, zoo_hyperparameters

    spec, hp = TASKS[task], zoo_hyperparameters(task)
    env = gym.make(spec["env_id"])
    obs, act = env.observation_space.shape[0], env.action_space.shape[0]
    algo, rows, arch = spec["algo"], hp["batch_size"] // 2, hp["net_arch"]
    actor_size = sum(i * o + o for i, o in itertools.pairwise([obs, *arch, act * (2 if algo == "sac" else 1)]))
    critic_size = sum(i * o + o for i, o in itertools.pairwise([obs + act, *arch, 1]))
    rng = np.random.default_rng(4)
    every, actor_step = actor_critic_passes(algo, rows, obs, act, arch)
    share = 1.0 if algo == "sac" else 1.0 / hp.get("policy_delay", 2)

    def timed(specs: list[tuple[Any, ...]]) -> tuple[float, float, float]:
        products = [p for spec in specs for p in _mlp_products(*spec)]
        return (products_us(products, calls), products_in_sequence_us(products, calls),
                elementwise_us([e for spec in specs for e in _mlp_elementwise(*spec)], calls))
    (every_products, every_sequence, every_elementwise), (actor_products, actor_sequence, actor_elementwise) = (
        timed(every), timed(actor_step))
    matmul = every_products + share * actor_products
    in_sequence = every_sequence + share * actor_sequence
    elementwise = every_elementwise + share * actor_elementwise
    # Per core: one critic's Adam step every update and half of the actor's with every actor
    # step; Polyak steps of that critic's target (SAC: every update; TD3: with the actor step,
    # with half of the actor target's too).
    critic_adam, actor_adam = (_median_us(ClippedAdam(size, rng, hp['learning_rate']), calls)
                               for size in (critic_size, actor_size // 2))
    if algo == "sac":
        passes = critic_adam + polyak_us(critic_size, calls) + actor_adam
    else:
        passes = critic_adam + share * (actor_adam + polyak_us(critic_size + actor_size // 2, calls))
    env_us = env_loop_us(spec["env_id"], arch, 5000)   # one env step per update, on the first core
    floor_us = flops_per_update(task, obs, act, hp) / (peak_gflops(2) * 1e3)
    bound = matmul + elementwise + passes + env_us
    print(f"{task}, µs per update and core: products {matmul:.0f} + bias, ReLU and mask passes {elementwise:.0f} "
          f"+ Adam and Polyak passes {passes:.0f} + env loop {env_us:.0f} = {bound:.0f}; floor {floor_us:.0f} (1.5x floor: {1.5 * floor_us:.0f}): "
          f"these alone are {bound / floor_us:.2f}x the floor ({1.5 * floor_us - bound:+.0f} µs to 1.5x)")
    print(f"{task}: the same products run back to back on operands of their own take {in_sequence:.0f} µs "
          f"({in_sequence / matmul:.2f}x), so an update made of them takes at least {bound - matmul + in_sequence:.0f} µs "
          f"({(bound - matmul + in_sequence) / bound:.2f}x the bound) before any Python, loss or exchange")


# -- PPO and A2C: one minibatch step, the run's updates, the env alone ------------------------------

def on_policy_passes(rows: int, obs: int, out: int, arch: list[int], share_net: bool) -> list[tuple[Any, ...]]:
    """The MLP passes (``rows, sizes, forward, weight_grads, input_grads``) of one minibatch step:
    the actor ``[obs, *arch, out]`` and the critic ``[obs, *arch, 1]`` forward and backward, with
    the input gradients of every layer but the first (nothing needs dL/ds); with ``share_net``
    the trunk ``[obs, *arch]`` and the two heads, whose input gradients the trunk needs."""
    if not share_net:
        return [(rows, [obs, *arch, n], True, True, len(arch)) for n in (out, 1)]
    return [(rows, [obs, *arch], True, True, len(arch) - 1), *((rows, [arch[-1], n], True, True, 1) for n in (out, 1))]


def vector_env_us(env_id: str, n_envs: int, vec_env: str, steps: int, seed: int = 0) -> float:
    """µs per transition of ``n_envs`` envs of ``env_id`` taking ``steps`` random actions (drawn
    beforehand) in the vector env rlnn steps them in (:func:`agents.collection.make_vector_env`,
    sub-envs that finished reset by mask), or in one plain env for ``n_envs`` 1."""
    import gymnasium as gym

    from agents.collection import make_vector_env

    def make() -> gym.Env:
        return gym.make(env_id)

    space, vectors = make().action_space, max(steps // n_envs, 1)
    rng = np.random.default_rng(seed)
    if hasattr(space, "n"):
        actions = rng.integers(int(space.n), size=(vectors, n_envs)) + int(space.start)
    else:
        actions = rng.uniform(space.low, space.high, size=(vectors, n_envs, *space.shape)).astype(F32)
    env = make() if n_envs == 1 else make_vector_env(make, n_envs, vec_env)
    env.reset(seed=seed)
    start = time.perf_counter()
    if n_envs == 1:
        for action in actions[:, 0]:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
    else:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            done = terminated | truncated
            if done.any():
                env.reset(options={"reset_mask": done})
    elapsed = time.perf_counter() - start
    env.close()
    return elapsed / (vectors * n_envs) * 1e6


def on_policy_bound(task: str, calls: int, env_steps: int) -> dict[str, Any]:
    """The figures of the PPO / A2C bound of ``task`` (module docstring), on one BLAS thread: per
    minibatch step in µs, per run in s (``run_*``), env stepping per transition (``env_us``) and
    per run (``env_s``)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):      # the updates' one process runs one BLAS thread
        return _on_policy_bound(task, calls, env_steps)


def _on_policy_bound(task: str, calls: int, env_steps: int) -> dict[str, Any]:
    import gymnasium as gym

    from experiments.benchmarks.tasks import (
        TASKS,
        agent_config,
        budget,
        minibatch_rows,
        on_policy_flops,
        on_policy_updates,
        zoo_hyperparameters,
    )

    spec = TASKS[task]
    c = agent_config(spec["algo"], zoo_hyperparameters(task))
    env = gym.make(spec["env_id"])
    discrete = hasattr(env.action_space, "n")
    obs = env.observation_space.shape[0]
    out = int(env.action_space.n) if discrete else env.action_space.shape[0]
    rows, arch = minibatch_rows(c), list(c.net_arch)
    passes = on_policy_passes(rows, obs, out, arch, c.share_net)
    products = [p for pass_ in passes for p in _mlp_products(*pass_)]
    ops = [e for pass_ in passes for e in _mlp_elementwise(*pass_, activation=c.activation)]
    if c.share_net:     # the trunk's last layer has the activation too, and both heads' gradients go back through it
        ops += [(c.activation, rows, arch[-1]), (ACTIVATION_GRADS[c.activation], rows, arch[-1])]
    parameters = sum(i * o + o for pass_ in passes for i, o in itertools.pairwise(pass_[1])) + (0 if discrete else out)
    flops, peak = on_policy_flops(c, obs, out), peak_gflops(1)
    steps = budget(task, spec["steps"])
    f: dict[str, Any] = {
        "task": task, "env_id": spec["env_id"], "n_envs": c.n_envs, "vec_env": c.vec_env, "batch_rows": rows,
        "net_arch": arch, "share_net": c.share_net, "parameters": parameters, "flops_per_update": flops,
        "peak_gflops": peak, "floor_us": flops / (peak * 1e3), "products_us": products_us(products, calls),
        "in_sequence_us": products_in_sequence_us(products, calls), "elementwise_us": elementwise_us(ops, calls),
        "adam_us": _median_us(ClippedAdam(parameters, np.random.default_rng(4), c.learning_rate), calls),
        "run_steps": steps, "run_updates": on_policy_updates(c, steps), "env_steps_timed": env_steps,
        "env_us": vector_env_us(spec["env_id"], c.n_envs, c.vec_env, env_steps)}
    f["update_bound_us"] = f["products_us"] + f["elementwise_us"] + f["adam_us"]
    f["update_in_sequence_us"] = f["in_sequence_us"] + f["elementwise_us"] + f["adam_us"]
    for key in ("floor", "update_bound", "update_in_sequence"):
        f[f"run_{key.removeprefix('update_')}_s"] = f["run_updates"] * f[f"{key}_us"] * 1e-6
    f["env_s"] = steps * f["env_us"] * 1e-6
    f["least_s"] = f["env_s"] + f["run_floor_s"]                 # env stepping + the update floor
    f["least_in_sequence_s"] = f["env_s"] + f["run_in_sequence_s"]
    return f


def on_policy_report(f: dict[str, Any], wall_s: float | None = None, sb3_s: float | None = None) -> str:
    """:func:`on_policy_bound`'s figures in words; with a run's wall time ``wall_s``, its distance to
    env stepping + the update floor; with SB3's ``sb3_s``, the speed-up that sum allows."""
    net = f"{'shared ' if f['share_net'] else ''}{'-'.join(map(str, f['net_arch']))}"
    lines = [
        (f"{f['task']}, one minibatch step of {f['batch_rows']} rows ({net}, {f['parameters']} parameters), µs on one "
         f"core: matmul floor {f['floor_us']:.1f} ({f['flops_per_update'] / 1e6:.2f} MFLOP at {f['peak_gflops']:.0f} "
         f"GFLOP/s, 1 thread); products alone {f['products_us']:.1f}, back to back {f['in_sequence_us']:.1f}; "
         f"+ bias, activation and mask passes {f['elementwise_us']:.1f} + Adam {f['adam_us']:.1f} "
         f"= {f['update_bound_us']:.1f} ({f['update_in_sequence_us']:.1f} back to back)"),
        (f"  the run's {f['run_updates']} minibatch steps ({f['run_steps']} env steps): floor {f['run_floor_s']:.2f} s, "
         f"bound {f['run_bound_s']:.2f} s, back to back {f['run_in_sequence_s']:.2f} s"),
        (f"  env stepping alone ({f['n_envs']} env(s), {f['vec_env'] if f['n_envs'] > 1 else 'plain'}, "
         f"{f['env_steps_timed']} random actions): {f['env_us']:.2f} µs per transition, {f['env_s']:.2f} s for the run"),
        (f"  so a run needs at least {f['least_s']:.2f} s (env + update floor; {f['least_in_sequence_s']:.2f} s with "
         f"the products back to back and their element-wise passes)")]
    if wall_s:
        lines.append(f"  the run's {wall_s:.1f} s is {wall_s / f['least_s']:.2f}x env + update floor "
                     f"({wall_s / f['least_in_sequence_s']:.2f}x env + back to back); "
                     f"{wall_s - f['least_s']:.1f} s above it")
    if sb3_s:
        lines.append(f"  against Stable-Baselines3's {sb3_s:.1f} s: at most {sb3_s / f['least_s']:.2f}x faster "
                     f"({sb3_s / f['least_in_sequence_s']:.2f}x back to back); 3x needs {sb3_s / 3:.1f} s")
    return "\n".join(lines)


def peak_gflops(threads: int) -> float:
    from experiments.benchmarks.bench_nn import matmul_peak_gflops
    return matmul_peak_gflops(threads=threads)


def _seconds(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in (item.split("=") for item in text.split(",") if item)}


def main(argv: list[str] | None = None) -> None:
    import json
    from pathlib import Path

    from threadpoolctl import threadpool_limits

    from experiments.benchmarks.tasks import DEFAULT_TASKS, TASKS, on_policy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"of {', '.join(TASKS)}")
    parser.add_argument("--calls", type=int, default=1000, help="calls per timing repeat")
    parser.add_argument("--sb3-seconds", default="", help="TASK=SECONDS[,TASK=SECONDS]: SB3's wall times")
    parser.add_argument("--wall-seconds", default="", help="TASK=SECONDS[,...]: a PPO/A2C run's wall time (rlnn's)")
    parser.add_argument("--env-steps", type=int, default=1_000_000, help="PPO/A2C: random actions the env takes")
    parser.add_argument("--json", help="PPO/A2C: write the figures of each task to this file")
    args = parser.parse_args(argv)
    sb3, wall, figures = _seconds(args.sb3_seconds), _seconds(args.wall_seconds), {}
    with threadpool_limits(1):
        for task in args.tasks.split(","):
            if task == "dqn-cartpole":
                dqn_bound(args.calls, sb3.get(task))
            elif on_policy(task):
                figures[task] = on_policy_bound(task, args.calls, args.env_steps)
                print(on_policy_report(figures[task], wall.get(task), sb3.get(task)), flush=True)
            else:
                actor_critic_bound(task, args.calls)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
