"""PPO and A2C: spaces, config, acting, initialisation, determinism, exact resume, save/load, and
small seeded learning runs."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlnn
from agents import (
    A2C,
    ALGORITHMS,
    PPO,
    OffPolicyTrainer,
    OnPolicyTrainer,
    RunSettings,
    evaluate,
    load_agent,
    save_agent,
    trainer_class,
)
from agents.checkpoint import export_policy
from agents.ppo import A2CConfig, PPOConfig
from rlnn.init import orthogonal
from rlnn.layers import Linear
from rlnn.optim import Adam, RMSProp

CARTPOLE, PENDULUM = gym.make("CartPole-v1"), gym.make("Pendulum-v1")
TINY = {"net_arch": [16], "n_steps": 32, "batch_size": 16, "n_epochs": 2}


def make(cls=PPO, env=CARTPOLE, **config):
    return cls(env.observation_space, env.action_space, {**TINY, **config}, seed=1)


def params(agent) -> dict[str, np.ndarray]:
    return agent.state_dict()[0]


def assert_same(a, b) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_registered_with_the_on_policy_trainer():
    assert ALGORITHMS["ppo"] is PPO and ALGORITHMS["a2c"] is A2C
    assert trainer_class("ppo") is trainer_class("a2c") is OnPolicyTrainer and trainer_class("sac") is OffPolicyTrainer


def test_a2c_is_a_configuration_of_ppo():
    c = A2CConfig()
    assert (c.n_epochs, c.batch_size, c.clip_range, c.optimizer, c.n_steps, c.normalize_advantage) == \
           (1, None, None, "rmsprop", 5, False)
    assert set(vars(A2C)) <= {"__module__", "__doc__", "algo", "Config", "__qualname__", "__firstlineno__",
                              "__static_attributes__"}      # no code of its own
    agent = make(A2C, net_arch=[8])
    assert isinstance(agent.optimizer, RMSProp) and agent.optimizer.alpha == 0.99 and agent.optimizer.eps == 1e-5
    assert isinstance(make().optimizer, Adam) and make().optimizer.eps == 1e-5


@pytest.mark.parametrize("action_space", [spaces.MultiDiscrete([2, 3]), spaces.Box(-1, 1, (2, 2))])
def test_unsupported_action_spaces_are_one_line_errors(action_space):
    with pytest.raises(ValueError, match="needs a Discrete or 1-D Box action space"):
        PPO(CARTPOLE.observation_space, action_space)


@pytest.mark.parametrize("bad", [{"clip_range": -0.1}, {"optimizer": "sgd"}, {"batch_size": 0}, {"n_steps": 0},
                                 {"gae_lambda": 1.5}, {"clip_range_schedule": "cosine"}, {"net_arch": []},
                                 {"max_grad_norm": -1.0}, {"learning_rate": 0.0}])
def test_bad_config_is_rejected(bad):
    with pytest.raises(ValueError, match="config key"):
        PPOConfig(**bad)


def test_act_and_explore_shapes_and_bounds():
    agent = make()
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    assert isinstance(agent.predict(obs[0]), int) and agent.predict(obs).shape == (5,)
    box = make(env=PENDULUM, log_std_init=1.5)
    pend = np.random.default_rng(1).uniform(-1, 1, (200, 3)).astype(np.float32)
    actions = box.explore(pend)
    assert actions.shape == (200, 1) and actions.dtype == np.float32
    assert np.all(np.abs(actions) <= 2.0)
    sample = box.last_sample                      # the unclipped sample is what the rollout keeps
    assert np.any(np.abs(sample.actions) > 2.0) and np.array_equal(np.clip(sample.actions, -2, 2), actions)
    dist = box.distribution(box._forward(sample.obs, cache=False)[0])
    np.testing.assert_allclose(dist.log_prob(sample.actions), sample.log_prob, rtol=1e-6)
    assert box.predict(pend[0]).shape == (1,)


def test_discrete_actions_with_a_start_reach_the_env_shifted():
    space = spaces.Discrete(3, start=-1)
    agent = PPO(CARTPOLE.observation_space, space, TINY, seed=0)
    actions = agent.explore(np.zeros((50, 4), np.float32))
    assert set(actions.tolist()) <= {-1, 0, 1} and set(agent.last_sample.actions.tolist()) <= {0, 1, 2}


def test_orthogonal_initialisation_and_its_gains():
    w = orthogonal((4, 64), np.random.default_rng(0), np.float64, gain=2.0)
    np.testing.assert_allclose(w @ w.T, 4.0 * np.eye(4), atol=1e-12)
    w = orthogonal((64, 8), np.random.default_rng(0), np.float64)
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-12)
    agent = make(net_arch=[64, 64])
    singular = [np.linalg.svd(layer.weight.value, compute_uv=False) for layer in agent.actor.linears]
    np.testing.assert_allclose(singular[0], math.sqrt(2), rtol=1e-5)       # hidden layers: gain √2
    np.testing.assert_allclose(singular[2], 0.01, rtol=1e-5)               # policy head: gain 0.01
    np.testing.assert_allclose(np.linalg.svd(agent.critic.linears[-1].weight.value, compute_uv=False), 1.0, rtol=1e-5)
    plain = make(net_arch=[64, 64], ortho_init=False)
    assert not np.allclose(np.linalg.svd(plain.actor.linears[0].weight.value, compute_uv=False), math.sqrt(2), rtol=0.1)


@pytest.mark.parametrize("share_net", [False, True])
def test_without_orthogonal_init_weights_and_biases_start_as_pytorch_draws_them(share_net):
    """SB3's ``ortho_init=False`` keeps ``nn.Linear``'s U(±1/√fan_in) for weights and biases: a
    Gaussian policy then starts with small means, not actions pinned at the bounds."""
    env = gym.make("Pendulum-v1")
    agent = PPO(env.observation_space, env.action_space,
                {**TINY, "net_arch": [256, 256], "activation": "relu", "ortho_init": False, "share_net": share_net})
    linears = [lin for net in (agent.trunk, agent.actor, agent.critic) if net is not None
               for lin in ([net] if isinstance(net, Linear) else net.linears)]
    assert len(linears) == (4 if share_net else 6)
    for lin in linears:
        limit = 1 / math.sqrt(lin.in_features)
        for values in (lin.weight.value, lin.bias.value):
            assert np.abs(values).max() <= limit
            if values.size >= 256:      # enough draws to see the distribution
                assert np.abs(values).max() > 0.9 * limit
                assert values.var() == pytest.approx(limit ** 2 / 3, rel=0.3)
    means, _ = agent._forward(np.random.default_rng(0).standard_normal((500, 3)).astype(np.float32), cache=False)
    assert np.abs(means).max() < 0.5


def train(tmp_path, name, cls=PPO, env_id="CartPole-v1", steps=300, stop_at=None, seed=0, **config):
    env = gym.make(env_id)
    agent = cls(env.observation_space, env.action_space, {**TINY, **config}, seed=seed)
    trainer = OnPolicyTrainer(agent, env_id, RunSettings(steps, seed=seed, progress=False, run_dir=tmp_path / name,
                                                          eval_freq=100, eval_episodes=1))
    trainer.run(stop_at=stop_at)
    return agent, trainer


def test_same_seed_gives_identical_parameters(tmp_path):
    a, _ = train(tmp_path, "a", n_envs=2)
    b, _ = train(tmp_path, "b", n_envs=2)
    c, _ = train(tmp_path, "c", n_envs=2, seed=1)
    assert a.n_updates == 4 * 2 * 4     # 150 vector steps: 4 full rollouts of 32 x 2, each 2 epochs of 4 minibatches
    assert_same(params(a), params(b))
    assert not np.array_equal(params(a)["actor/0.weight"], params(c)["actor/0.weight"])


@pytest.mark.parametrize("cls, env_id, config", [
    (PPO, "CartPole-v1", {}),
    (PPO, "CartPole-v1", {"n_envs": 3, "normalize_observations": True, "normalize_rewards": True,
                          "learning_rate_schedule": "linear", "clip_range_schedule": "linear"}),
    (PPO, "Pendulum-v1", {"n_envs": 2, "share_net": True, "clip_range_vf": 0.2, "normalize_rewards": True}),
    (A2C, "Pendulum-v1", {"n_envs": 2, "n_steps": 5, "normalize_observations": True}),
], ids=["ppo-1-env", "ppo-3-envs-normalized", "ppo-gaussian-shared", "a2c-gaussian"])
def test_a_run_resumed_mid_rollout_equals_an_uninterrupted_one(tmp_path, cls, env_id, config):
    full, _ = train(tmp_path, "full", cls, env_id, **config)
    _, first = train(tmp_path, "split", cls, env_id, stop_at=157, **config)   # 157: inside a rollout
    first.save_checkpoints(periodic=False)                                     # as Ctrl-C does
    resumed = OffPolicyTrainer.resume(tmp_path / "split", progress=False)  # the run's kind whatever the class
    assert isinstance(resumed, OnPolicyTrainer) and 0 < resumed.rollout.pos < resumed.rollout.n_steps
    resumed.run()
    assert_same(params(full), params(resumed.agent))
    rows = lambda d: [line.split(",")[:5] for line in (d / "metrics.csv").read_text().splitlines()]
    assert rows(tmp_path / "full") == rows(tmp_path / "split")


def test_save_load_round_trip_and_the_policy_file(tmp_path):
    agent, _ = train(tmp_path, "run", env_id="Pendulum-v1", normalize_observations=True, share_net=True)
    loaded, meta = load_agent(save_agent(agent, tmp_path / "ppo.npz"))
    assert isinstance(loaded, PPO) and meta["algo"] == "ppo" and loaded.n_updates == agent.n_updates
    obs = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    np.testing.assert_array_equal(agent.predict(obs), loaded.predict(obs))
    np.testing.assert_array_equal(agent.predict(obs, deterministic=False), loaded.predict(obs, deterministic=False))
    path = export_policy(agent, tmp_path / "policy.npz")
    kept = rlnn.load_arrays(path)[0]
    assert "trunk/0.weight" in kept and "log_std/log_std" in kept and "obs_rms/mean" in kept
    assert not any(key.startswith(("critic", "opt.")) for key in kept)
    policy, meta = load_agent(path)
    assert meta["policy_only"]
    np.testing.assert_array_equal(agent.predict(obs), policy.predict(obs))


def test_ppo_learns_cartpole_on_a_small_budget():
    """Seeded: from about 22 (random) to over 150 in 10,000 steps (the zoo's config, constant rates)."""
    config = {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
              "learning_rate": 1e-3}
    agent = PPO(CARTPOLE.observation_space, CARTPOLE.action_space, config, seed=0)
    random_return = evaluate(lambda o: CARTPOLE.action_space.sample(), gym.make("CartPole-v1"), 10).mean_return
    OnPolicyTrainer(agent, "CartPole-v1", RunSettings(10_000, seed=0, progress=False)).run()
    assert random_return < 40 and evaluate(lambda o: agent.act(o), gym.make("CartPole-v1"), 10).mean_return > 150


def test_a2c_runs_and_updates_every_rollout():
    agent = A2C(CARTPOLE.observation_space, CARTPOLE.action_space, {"n_envs": 4}, seed=0)
    trainer = OnPolicyTrainer(agent, "CartPole-v1", RunSettings(2_000, seed=0, progress=False))
    summary = trainer.run()
    assert agent.n_updates == 2_000 // 20 and summary["steps"] == 2_000
    assert all(math.isfinite(v) for v in trainer.last_metrics.values())
    assert trainer.last_metrics["clip_fraction"] == 0.0


def test_lanes_beyond_the_sub_envs_are_refused_in_one_line():
    with pytest.raises(ValueError, match="lanes=3 splits the sub-envs over processes, but n_envs=2"):
        OnPolicyTrainer(make(n_envs=2), "CartPole-v1", RunSettings(100, progress=False, lanes=3))


def test_target_kl_ends_an_update_early():
    """The first minibatch of an update has ρ = 1 (KL 0) and is taken; the next one, past a tiny target, is not."""
    capped, free = make(target_kl=1e-9, n_epochs=5), make(n_epochs=5)
    for agent in (capped, free):
        OnPolicyTrainer(agent, "CartPole-v1", RunSettings(64, progress=False, eval_freq=0)).run()
    assert free.n_updates == 2 * 5 * 2 and capped.n_updates == 2     # 2 rollouts of 2 minibatches, 5 epochs
