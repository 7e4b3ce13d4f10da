"""SAC: space checks, acting, config, determinism, checkpoints, and a small Pendulum learning run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents.loop import RunSettings
from agents import ALGORITHMS, OffPolicyTrainer, evaluate, load_agent, save_agent
from agents.replay import ReplayBuffer
from agents.sac import SAC, SACConfig

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
TINY = {"net_arch": [16, 16], "learning_starts": 50, "batch_size": 16}


def test_registered():
    assert ALGORITHMS["sac"] is SAC


@pytest.mark.parametrize("obs_space, act_space, message", [
    (OBS, spaces.Discrete(3), "dqn"),
    (OBS, spaces.Box(-np.inf, np.inf, (2,), np.float32), "bounded"),
    (OBS, spaces.Box(-1.0, 1.0, (2, 2), np.float32), "1-D Box action"),
    (spaces.Box(0, 255, (8, 8, 3), np.uint8), ACT, "image observations"),
])
def test_rejects_unsupported_spaces(obs_space, act_space, message):
    with pytest.raises(ValueError, match=message):
        SAC(obs_space, act_space)


@pytest.mark.parametrize("value, expected", [("auto", (True, 1.0)), ("auto_0.1", (True, 0.1)), (0.2, (False, 0.2)),
                                             ("0.05", (False, 0.05))])
def test_ent_coef_forms(value, expected):
    assert SACConfig(ent_coef=value).parse_ent_coef() == expected


@pytest.mark.parametrize("bad", [{"ent_coef": "automatic"}, {"ent_coef": -1.0}, {"tau": 0.0}, {"learning_starts": 5e3 + 0.5},
                                 {"no_such_key": 1}, {"dtype": "float16"}])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError):
        SAC(OBS, ACT, bad)


def test_act_shapes_and_bounds():
    agent = SAC(OBS, ACT, TINY, seed=0)
    rng = np.random.default_rng(0)
    one = agent.act(rng.uniform(-1, 1, 3))
    assert one.shape == (2,) and one.dtype == np.float32
    many = agent.act(rng.uniform(-1, 1, (50, 3)), deterministic=False)
    assert many.shape == (50, 2)
    assert np.all(many >= ACT.low) and np.all(many <= ACT.high)
    np.testing.assert_array_equal(agent.act(np.zeros(3)), agent.act(np.zeros(3)))  # deterministic is repeatable
    with pytest.raises(ValueError, match="observation must have shape"):
        agent.act(np.zeros(4))


def test_explore_is_uniform_before_learning_starts():
    agent = SAC(OBS, ACT, TINY, seed=0)
    actions = np.array([agent.explore(np.zeros(3), step) for step in range(400)])
    assert actions.shape == (400, 2)
    assert np.all(actions >= ACT.low) and np.all(actions <= ACT.high)
    assert abs(actions[:50, 1].mean() - 0.5) < 0.15  # uniform over [0, 1]


def test_train_step_updates_everything():
    agent = SAC(OBS, ACT, TINY, seed=0)
    buf = ReplayBuffer(100, 3, (2,), np.float32, rng=0)
    rng = np.random.default_rng(0)
    for _ in range(100):
        buf.add(rng.uniform(-1, 1, 3), rng.uniform(ACT.low, ACT.high), rng.normal(), rng.uniform(-1, 1, 3), False, False)
    before = {k: v.copy() for k, v in agent.state_dict()[0].items()}
    metrics = agent.train_step(buf.sample(16))
    assert set(metrics) == set(SAC.metric_names)
    after = agent.state_dict()[0]
    for key in ("actor/0.weight", "critic0/0.weight", "critic1/0.weight", "critic_target0/0.weight", "log_alpha"):
        assert not np.array_equal(before[key], after[key]), key
    assert metrics["ent_coef"] == 1.0 and agent.alpha < 1.0  # α was read before its own step


def train(tmp_path, seed=0, steps=150, stop_at=None, name="run"):
    env = gym.make("Pendulum-v1")
    agent = SAC(env.observation_space, env.action_space, {**TINY, "learning_starts": 60}, seed=seed)
    trainer = OffPolicyTrainer(agent, "Pendulum-v1", RunSettings(steps, seed=seed, progress=False, run_dir=tmp_path / name, lanes=1))
    trainer.run(stop_at=stop_at)
    return agent, trainer


def test_same_seed_gives_identical_parameters(tmp_path):
    a, _ = train(tmp_path, name="a")
    b, _ = train(tmp_path, name="b")
    c, _ = train(tmp_path, seed=1, name="c")
    arrays_a, arrays_b, arrays_c = a.state_dict()[0], b.state_dict()[0], c.state_dict()[0]
    assert all(np.array_equal(arrays_a[k], arrays_b[k]) for k in arrays_a)
    assert not np.array_equal(arrays_a["actor/0.weight"], arrays_c["actor/0.weight"])


def test_interrupted_and_resumed_run_matches(tmp_path):
    full, _ = train(tmp_path, name="full")
    _, first = train(tmp_path, stop_at=110, name="split")
    first.save_checkpoints(periodic=False)
    resumed = OffPolicyTrainer.resume(tmp_path / "split", progress=False)
    resumed.run()
    expected, got = full.state_dict()[0], resumed.agent.state_dict()[0]
    assert all(np.array_equal(expected[k], got[k]) for k in expected)


def test_save_load_round_trip(tmp_path):
    agent, _ = train(tmp_path)
    path = save_agent(agent, tmp_path / "sac.npz")
    loaded, meta = load_agent(path)
    assert isinstance(loaded, SAC) and meta["algo"] == "sac"
    obs = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    np.testing.assert_array_equal(agent.act(obs), loaded.act(obs))
    assert loaded.alpha == agent.alpha and loaded.n_updates == agent.n_updates
    # the RNG state travels too: the next stochastic actions agree
    np.testing.assert_array_equal(agent.act(obs, deterministic=False), loaded.act(obs, deterministic=False))


def test_learns_pendulum():
    """Seeded, small budget: from about −1200 (random) to better than −400 in 5,000 steps."""
    env = gym.make("Pendulum-v1")
    config = {"learning_rate": 1e-3, "net_arch": [64, 64], "batch_size": 64, "learning_starts": 500}
    agent = SAC(env.observation_space, env.action_space, config, seed=0)
    OffPolicyTrainer(agent, "Pendulum-v1", RunSettings(5000, seed=0, progress=False, lanes=1)).run()
    assert evaluate(lambda o: agent.act(o), gym.make("Pendulum-v1"), 5).mean_return > -400
