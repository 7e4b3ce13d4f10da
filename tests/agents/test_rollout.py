"""The on-policy rollout: GAE(λ) against a per-env reference, the bootstrap on truncation and
none on termination, minibatches that cover the rollout, and the memory's saved state."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents import PPO, OnPolicyTrainer, RunSettings
from agents.rollout import RolloutBuffer, RolloutMemory, gae


def reference_gae(rewards, values, next_values, dones, gamma, lam):
    """Schulman et al.'s recursion, one env and one step at a time."""
    t_max, n = rewards.shape
    out = np.zeros((t_max, n))
    for i in range(n):
        running = 0.0
        for t in reversed(range(t_max)):
            delta = rewards[t, i] + gamma * next_values[t, i] - values[t, i]
            running = delta + gamma * lam * (1.0 - dones[t, i]) * running
            out[t, i] = running
    return out


@pytest.mark.parametrize("gamma, lam", [(0.99, 0.95), (0.9, 1.0), (0.98, 0.0)])
def test_gae_matches_the_per_env_recursion(gamma, lam):
    rng = np.random.default_rng(0)
    shape = (9, 4)
    r, v, nv = rng.standard_normal(shape), rng.standard_normal(shape), rng.standard_normal(shape)
    d = rng.random(shape) < 0.3
    np.testing.assert_allclose(gae(r, v, nv, d, gamma, lam), reference_gae(r, v, nv, d, gamma, lam), rtol=1e-12)


def test_lambda_one_gives_discounted_returns_minus_values():
    """λ = 1 without dones: A_t = Σ_k γ^k r_{t+k} + γ^(T−t) V(s_T) − V(s_t) (A2C's n-step return)."""
    buf = RolloutBuffer(3, 1, 1, (), np.int64, np.float64)
    for r, v in ((1.0, 0.5), (2.0, 0.25), (3.0, 0.0)):
        buf.add(np.zeros((1, 1)), np.zeros(1, np.int64), np.zeros(1), np.array([v]), np.array([r]),
                np.array([False]), np.zeros(1))
    buf.finish(np.array([10.0]), gamma=0.5, gae_lambda=1.0)
    np.testing.assert_allclose(buf.returns[:, 0], [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 10, 2 + 0.5 * 3 + 0.25 * 10,
                                                   3 + 0.5 * 10])


@pytest.mark.parametrize("terminated", [True, False])
def test_a_truncated_episode_bootstraps_from_its_final_value_and_a_terminated_one_does_not(terminated):
    """Step 1 ends the episode (V(s^final) = 7); step 2 starts the next one (V = 100, which must not leak back)."""
    buf = RolloutBuffer(3, 1, 1, (), np.int64, np.float64)
    steps = [(1.0, 0.0, False, 0.0), (1.0, 0.0, True, 0.0 if terminated else 7.0), (1.0, 100.0, False, 0.0)]
    for r, v, done, final in steps:
        buf.add(np.zeros((1, 1)), np.zeros(1, np.int64), np.zeros(1), np.array([v]), np.array([r]),
                np.array([done]), np.array([final]))
    buf.finish(np.array([0.0]), gamma=0.5, gae_lambda=1.0)
    bootstrap = 0.0 if terminated else 0.5 * 7.0
    np.testing.assert_allclose(buf.advantages[:2, 0], [1 + 0.5 * (1 + bootstrap), 1 + bootstrap])


def test_minibatches_cover_every_row_once_per_pass_and_the_last_may_be_short():
    buf = RolloutBuffer(5, 3, 2, (), np.int64)
    buf.obs[:] = np.arange(15, dtype=np.float32).reshape(5, 3, 1)
    buf.advantages = buf.returns = np.zeros((5, 3), np.float32)
    buf.pos = 5
    batches = list(buf.minibatches(4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 4, 3]
    assert sorted(np.concatenate([b.obs[:, 0] for b in batches]).tolist()) == list(range(15))
    whole = list(buf.minibatches(None, np.random.default_rng(0)))
    assert len(whole) == 1 and whole[0].obs[:, 0].tolist() == list(range(15))


class Corridor(gym.Env):
    """Walk right: terminates at cell 5, else a time limit of 4 steps truncates."""
    observation_space = gym.spaces.Box(0.0, 5.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.cell = 3
        return np.array([self.cell], np.float32), {}

    def step(self, action):
        self.cell = max(self.cell + (1 if action == 1 else -1), 0)
        return np.array([self.cell], np.float32), 1.0, self.cell == 5, False, {}


def make_corridor():
    return gym.wrappers.TimeLimit(Corridor(), max_episode_steps=4)


def test_the_trainer_records_final_values_for_truncated_steps_only():
    env = make_corridor()
    agent = PPO(env.observation_space, env.action_space, {"n_steps": 300, "net_arch": [8]}, seed=0)
    trainer = OnPolicyTrainer(agent, make_corridor, RunSettings(299, seed=0, progress=False, eval_freq=0))
    seen = []
    add_batch = trainer.replay.add_batch

    def spy(rows, actions, rewards, next_rows, terminated, truncated):
        seen.append((next_rows.copy(), np.asarray(terminated).copy(), np.asarray(truncated).copy()))
        add_batch(rows, actions, rewards, next_rows, terminated, truncated)

    trainer.replay.add_batch = spy
    trainer.run()                                  # 299 steps: no update, the values are the collection's
    b = trainer.rollout
    final_obs = np.concatenate([s[0] for s in seen])
    terminated = np.concatenate([s[1] for s in seen])
    truncated = np.concatenate([s[2] for s in seen]) & ~terminated
    assert truncated.sum() > 5 and terminated.sum() > 5
    np.testing.assert_array_equal(b.dones[:299, 0], terminated | truncated)
    np.testing.assert_allclose(b.final_values[:299, 0][truncated], agent.values(final_obs[truncated]), rtol=1e-5)
    assert np.all(b.final_values[:299, 0][~truncated] == 0)


def test_memory_state_round_trip_keeps_the_actions_of_the_episodes_in_progress():
    env = gym.make("CartPole-v1")
    agent = PPO(env.observation_space, env.action_space, {"n_steps": 50, "net_arch": [8], "n_envs": 3}, seed=1)
    trainer = OnPolicyTrainer(agent, "CartPole-v1", RunSettings(120, seed=1, progress=False, eval_freq=0))
    trainer.run()
    memory = trainer.replay
    lengths = trainer.collector.episode_lengths
    assert memory.lengths.tolist() == lengths.tolist()
    arrays, meta = memory.state_dict()
    assert arrays["env_actions"].shape == (lengths.max() * 3,) and arrays["rollout.obs"].shape == (40, 3, 4)
    other = RolloutMemory(agent, 3)
    other.load_state_dict(arrays, meta)
    np.testing.assert_array_equal(other.last_actions(len(arrays["env_actions"])), arrays["env_actions"])
    np.testing.assert_array_equal(other.buffer.obs[:40], memory.buffer.obs[:40])
    assert other.buffer.pos == 40
    with pytest.raises(ValueError, match="episodes in progress"):
        other.load_state_dict({**arrays, "env_actions": arrays["env_actions"][:-1]}, meta)
