"""TD3 and DDPG: space checks, the DDPG configuration, exploration, determinism, checkpoints."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents.loop import RunSettings
from agents import ALGORITHMS, OffPolicyTrainer, load_agent, save_agent
from agents.replay import Batch
from agents.td3 import DDPG, TD3, DDPGConfig, TD3Config

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
TINY = {"net_arch": [16, 16], "learning_starts": 50, "batch_size": 16}


def test_registered():
    assert ALGORITHMS["td3"] is TD3 and ALGORITHMS["ddpg"] is DDPG


def test_ddpg_is_a_td3_configuration():
    c = DDPGConfig()
    assert (c.n_critics, c.policy_delay, c.target_noise) == (1, 1, 0.0)
    assert DDPG.train_step is TD3.train_step
    agent = DDPG(OBS, ACT, TINY)
    assert agent.algo == "ddpg" and len(agent.critics.nets) == 1
    # the same thing spelled as a TD3 config
    same = TD3(OBS, ACT, {**TINY, "n_critics": 1, "policy_delay": 1, "target_noise": 0.0})
    assert len(same.critics.nets) == 1


@pytest.mark.parametrize("cls", [TD3, DDPG])
@pytest.mark.parametrize("obs_space, act_space, message", [
    (OBS, spaces.Discrete(3), "dqn"),
    (OBS, spaces.Box(-1.0, np.inf, (2,), np.float32), "bounded"),
    (spaces.Box(0, 255, (8, 8, 3), np.uint8), ACT, "image observations"),
    (OBS, spaces.Box(np.array([0.0, 1.0], np.float32), np.array([1.0, 1.0], np.float32)), "high > low"),
])
def test_rejects_unsupported_spaces(cls, obs_space, act_space, message):
    with pytest.raises(ValueError, match=message):
        cls(obs_space, act_space)


@pytest.mark.parametrize("bad", [{"policy_delay": 0}, {"action_noise": -0.1}, {"net_arch": "wide"}, {"gama": 0.9}])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        TD3(OBS, ACT, bad)


def test_act_and_explore():
    agent = TD3(OBS, ACT, {**TINY, "action_noise": 0.5}, seed=0)
    obs = np.zeros(3, np.float32)
    greedy = agent.act(obs)
    assert greedy.shape == (2,) and np.all(greedy >= ACT.low) and np.all(greedy <= ACT.high)
    assert agent.act(np.zeros((7, 3))).shape == (7, 2)
    early = np.array([agent.explore(obs, 0) for _ in range(200)])
    assert early[:, 0].std() > 0.8                 # uniform over [-2, 2]: std 1.15
    noisy = np.array([agent.explore(obs, 100) for _ in range(2000)])
    assert np.all(noisy >= ACT.low) and np.all(noisy <= ACT.high)
    # noise std 0.5 of the half-range: 1.0 in env units on the first dimension (before clipping)
    assert 0.7 < noisy[:, 0].std() < 1.1


def test_target_smoothing_is_clipped():
    agent = TD3(OBS, ACT, {**TINY, "target_noise": 0.2, "noise_clip": 0.5}, seed=0)
    rng = np.random.default_rng(0)
    b = Batch(rng.uniform(-1, 1, (4, 3)), rng.uniform(ACT.low, ACT.high, (4, 2)).astype(np.float32),
              np.zeros(4, np.float32), rng.uniform(-1, 1, (4, 3)), np.zeros(4, np.float32), np.ones(4, np.float32))
    huge = agent.td_target(b, noise=np.full((4, 2), 100.0))
    clipped = agent.td_target(b, noise=np.full((4, 2), 0.5))
    np.testing.assert_allclose(huge, clipped)


def test_policy_delay_and_target_updates():
    agent = TD3(OBS, ACT, {**TINY, "policy_delay": 2}, seed=0)
    rng = np.random.default_rng(1)
    b = Batch(rng.uniform(-1, 1, (16, 3)).astype(np.float32), rng.uniform(ACT.low, ACT.high, (16, 2)).astype(np.float32),
              rng.normal(size=16).astype(np.float32), rng.uniform(-1, 1, (16, 3)).astype(np.float32),
              np.zeros(16, np.float32), np.full(16, 0.99, np.float32))
    actor0, target0 = agent.actor.state_dict(), agent.actor_target.state_dict()
    agent.train_step(b)                            # critic only
    assert all(np.array_equal(actor0[k], v) for k, v in agent.actor.state_dict().items())
    assert all(np.array_equal(target0[k], v) for k, v in agent.actor_target.state_dict().items())
    agent.train_step(b)                            # critic, actor, targets
    assert not np.array_equal(actor0["0.weight"], agent.actor.state_dict()["0.weight"])
    assert not np.array_equal(target0["0.weight"], agent.actor_target.state_dict()["0.weight"])


def train(tmp_path, cls=TD3, seed=0, steps=150, stop_at=None, name="run"):
    env = gym.make("Pendulum-v1")
    agent = cls(env.observation_space, env.action_space, {**TINY, "learning_starts": 60}, seed=seed)
    trainer = OffPolicyTrainer(agent, "Pendulum-v1", RunSettings(steps, seed=seed, progress=False, run_dir=tmp_path / name, lanes=1))
    trainer.run(stop_at=stop_at)
    return agent, trainer


@pytest.mark.parametrize("cls", [TD3, DDPG])
def test_same_seed_gives_identical_parameters(tmp_path, cls):
    a, _ = train(tmp_path, cls, name="a")
    b, _ = train(tmp_path, cls, name="b")
    arrays_a, arrays_b = a.state_dict()[0], b.state_dict()[0]
    assert all(np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a)


def test_interrupted_and_resumed_run_matches(tmp_path):
    full, _ = train(tmp_path, name="full")
    _, first = train(tmp_path, stop_at=111, name="split")
    first.save_checkpoints(periodic=False)
    resumed = OffPolicyTrainer.resume(tmp_path / "split", progress=False)
    resumed.run()
    expected, got = full.state_dict()[0], resumed.agent.state_dict()[0]
    assert all(np.array_equal(expected[k], got[k]) for k in expected)


@pytest.mark.parametrize("cls", [TD3, DDPG])
def test_save_load_round_trip(tmp_path, cls):
    agent, _ = train(tmp_path, cls)
    loaded, meta = load_agent(save_agent(agent, tmp_path / "agent.npz"))
    assert type(loaded) is cls and meta["algo"] == cls.algo
    assert isinstance(loaded.config, cls.Config) and loaded.config == agent.config
    obs = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    np.testing.assert_array_equal(agent.act(obs), loaded.act(obs))
    np.testing.assert_array_equal(agent.act(obs, deterministic=False), loaded.act(obs, deterministic=False))


def test_config_defaults_follow_sb3():
    c = TD3Config()
    assert (c.policy_delay, c.target_noise, c.noise_clip, c.tau, c.batch_size) == (2, 0.2, 0.5, 0.005, 256)
