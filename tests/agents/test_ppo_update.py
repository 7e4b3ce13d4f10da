"""PPO's update computes what its plain formulas do, bit for bit: advantages normalized per
minibatch for a whole pass at once, the metrics from the steps' per-row terms at the end, the
minibatches as slices of one gather per pass, every parameter in one optimiser vector, the
categorical sampler without its clamp, and the rollout memory's trimmed bookkeeping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents import ppo
from agents.distributions import Categorical
from agents.ppo import PPO
from agents.ppo_losses import LossTerms, normalized_advantages, update_metrics
from agents.rollout import RolloutBuffer, RolloutMemory
from rlnn.module import contiguous_spans

OBS = spaces.Box(-5.0, 5.0, (6,), np.float32)


@pytest.mark.parametrize("n, batch_size", [(320, 64), (330, 64), (65, 64), (37, None), (10, 100), (7, 1)])
def test_advantages_are_normalized_per_minibatch_exactly_as_np_mean_and_std(n, batch_size):
    """Full runs as one matrix, the short last run (10 rows; 1 row, left as it is) on its own."""
    advantages = np.random.default_rng(n).normal(3.0, 2.0, n).astype(np.float32)
    size = n if batch_size is None else batch_size
    expected = advantages.copy()
    for start in range(0, n, size):
        run = advantages[start:start + size]
        if len(run) > 1:
            expected[start:start + size] = (run - run.mean()) / (run.std(ddof=1) + 1e-8)
    got = normalized_advantages(advantages, batch_size)
    assert got.dtype == np.float32 and np.array_equal(got, expected)


def test_metrics_are_the_per_step_means_summed_in_order():
    """Steps of two lengths (a pass's short last minibatch); float32 means as np.mean gives them."""
    r = np.random.default_rng(0)

    def terms(b: int) -> LossTerms:
        log_ratio = r.normal(0, 0.3, b).astype(np.float32)
        return LossTerms(r.normal(size=b).astype(np.float32), r.normal(0, 3, b).astype(np.float32),
                         r.uniform(0, 1.4, b).astype(np.float32), log_ratio, np.exp(log_ratio))

    steps = [terms(b) for b in [64] * 5 + [10] + [64] * 4 + [10]]
    sums = dict.fromkeys(PPO.metric_names[:-1], 0.0)
    for t in steps:
        sums["policy_loss"] += -float(t.surrogate.mean())
        sums["value_loss"] += float(np.mean(t.value_error * t.value_error))
        sums["entropy_loss"] += -float(t.entropy.mean())
        sums["approx_kl"] += float(np.mean(np.expm1(t.log_ratio) - t.log_ratio))
        sums["clip_fraction"] += float(np.mean(np.abs(t.ratio - 1.0) > 0.2))
    assert update_metrics(steps, 0.2) == {k: v / len(steps) for k, v in sums.items()}
    assert update_metrics(steps, None)["clip_fraction"] == 0.0
    assert update_metrics([], 0.2) == dict.fromkeys(PPO.metric_names[:-1], 0.0)


def test_minibatches_are_slices_of_one_gather_per_pass():
    buf = RolloutBuffer(6, 4, 3, (), np.int64)
    r = np.random.default_rng(1)
    buf.obs[:] = r.normal(size=buf.obs.shape)
    buf.actions[:] = r.integers(0, 5, buf.actions.shape)
    buf.log_probs[:], buf.values[:] = r.normal(size=(6, 4)), r.normal(size=(6, 4))
    buf.advantages, buf.returns = r.normal(size=(6, 4)).astype(np.float32), r.normal(size=(6, 4)).astype(np.float32)
    buf.pos = 6
    order = np.random.default_rng(7).permutation(24)
    batches = list(buf.minibatches(10, np.random.default_rng(7)))
    assert [len(b) for b in batches] == [10, 10, 4]
    for name in ("obs", "actions", "log_probs", "values", "advantages", "returns"):
        column = getattr(buf, name).reshape(24, *getattr(buf, name).shape[2:])
        for start, batch in zip((0, 10, 20), batches):
            assert np.array_equal(getattr(batch, name), column[order[start:start + 10]]), name


class Draws:
    """A generator stand-in whose ``random`` returns the given uniforms."""

    def __init__(self, u: np.ndarray) -> None:
        self.u = u

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.u.reshape(shape)


def test_the_categorical_sampler_is_the_clamped_inverse_cdf():
    """Counting the first k − 1 cumulative sums below u is min(count of all k, k − 1), also for
    u above a last cumulative sum that rounding left under 1."""
    logits = np.random.default_rng(2).normal(0, 3, (400, 5)).astype(np.float32)
    dist = Categorical(logits)
    u = np.random.default_rng(3).random(400)
    u[:200] = 1.0 - 1e-12                              # above every float32 sum that falls short of 1
    cumulative = np.cumsum(dist.p, axis=1)
    assert np.any(cumulative[:200, -1] < u[:200])      # the case the old clamp was for occurs
    expected = np.minimum((cumulative < u[:, None]).sum(axis=1), 4)
    assert np.array_equal(dist.sample(Draws(u)), expected)


def unpacked(modules):
    """``pack_together`` that leaves every network in its own buffer."""
    return [grad for _, grad, _ in contiguous_spans([p for m in modules for p in m.parameters()])]


def fill(agent: PPO, seed: int) -> RolloutBuffer:
    c = agent.config
    r = np.random.default_rng(seed)
    buf = RolloutBuffer(c.n_steps, c.n_envs, agent.obs_dim, agent.action_shape, agent.action_dtype, agent.dtype)
    for _ in range(c.n_steps):
        agent.explore(r.uniform(-2, 2, (c.n_envs, agent.obs_dim)).astype(np.float32))
        s = agent.last_sample
        buf.add(s.obs, s.actions, s.log_prob, s.values, r.normal(size=c.n_envs), r.random(c.n_envs) < 0.05,
                np.zeros(c.n_envs))
    buf.finish(r.normal(size=c.n_envs), c.gamma, c.gae_lambda)
    return buf


@pytest.mark.parametrize("action_space, config", [
    (spaces.Discrete(4), {}),
    (spaces.Box(-1.0, 1.0, (2,), np.float32), {"share_net": True, "clip_range_vf": 0.2}),
], ids=["categorical", "gaussian-shared"])
def test_one_optimiser_vector_for_all_networks_changes_no_result(monkeypatch, action_space, config):
    """The clip's norm is summed per network as before the packing, so the updates match bit for bit."""
    config = {"net_arch": [16, 16], "n_steps": 16, "n_envs": 4, "batch_size": 24, "n_epochs": 3, "ent_coef": 0.01,
              "max_grad_norm": 0.05, **config}
    packed = PPO(OBS, action_space, config, seed=5)
    monkeypatch.setattr(ppo, "pack_together", unpacked)
    apart = PPO(OBS, action_space, config, seed=5)
    assert len(packed.optimizer._spans) == 1 < len(apart.optimizer._spans)
    for agent in (packed, apart):
        agent.total_steps = 10_000
    for k in range(2):
        assert packed.train_on(fill(packed, k), 64 * k) == apart.train_on(fill(apart, k), 64 * k)
    for p, q in zip(packed.optimizer.params, apart.optimizer.params):
        assert np.array_equal(p.value, q.value)


def test_the_memory_drops_only_the_actions_of_finished_episodes():
    """After every vector step it holds one row per step of the longest episode in progress."""
    env = gym.make("CartPole-v1")
    agent = PPO(env.observation_space, env.action_space, {"n_steps": 300, "net_arch": [8], "n_envs": 3}, seed=0)
    memory = RolloutMemory(agent, 3)
    r = np.random.default_rng(4)
    for _ in range(300):
        rows = r.normal(size=(3, 4)).astype(np.float32)
        actions = agent.explore(rows)
        memory.add_batch(rows, actions, np.ones(3), rows, r.random(3) < 0.05, r.random(3) < 0.05)
        assert len(memory.env_actions) == memory.lengths.max()
    assert memory.lengths.max() < 150          # episodes did end
