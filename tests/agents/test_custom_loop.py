"""The agents in a user's own loop (CleanRL's way): Dict and Discrete observations, predict on
raw observations, and the run length that schedules need (no hidden default)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents import ALGORITHMS, DQN, SAC, TD3, evaluate, load_agent, save_agent
from agents.replay import ReplayBuffer

TINY = {"net_arch": [16], "learning_starts": 30, "batch_size": 16, "buffer_size": 1000}


class DictCorridor(gym.Env):
    """Walk right along a corridor of 10 cells. The observation is a Dict of a Box, a Discrete and
    a Tuple of a MultiBinary and a MultiDiscrete; actions are Discrete(2) or a Box of one."""

    def __init__(self, continuous: bool = False) -> None:
        self.observation_space = spaces.Dict({
            "where": spaces.Box(0.0, 1.0, (2,), np.float32), "cell": spaces.Discrete(10),
            "flags": spaces.Tuple((spaces.MultiBinary(2), spaces.MultiDiscrete([2, 3])))})
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else spaces.Discrete(2)
        self.continuous = continuous

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.cell, self.t = int(self.np_random.integers(0, 3)), 0
        return self._obs(), {}

    def step(self, action):
        right = float(np.asarray(action).reshape(-1)[0]) > 0 if self.continuous else int(action) == 1
        self.cell = min(max(self.cell + (1 if right else -1), 0), 9)
        self.t += 1
        return self._obs(), float(right), self.cell == 9, self.t >= 30, {}

    def _obs(self):
        return {"where": np.array([self.cell / 9, self.t / 30], np.float32), "cell": self.cell,
                "flags": (np.array([self.cell % 2, self.cell == 0], np.int8), np.array([self.cell % 2, self.t % 3]))}


def custom_loop(agent, env, steps: int, seed: int = 0) -> list[dict[str, float]]:
    """The loop of the DQN class docstring: explore, store encoded rows, train_step, on_step."""
    c = agent.config
    discrete = isinstance(agent.action_space, spaces.Discrete)
    replay = ReplayBuffer(c.buffer_size, agent.obs_dim, () if discrete else agent.action_space.shape,
                          np.int64 if discrete else np.float32, rng=seed)
    obs, metrics = agent.encode(env.reset(seed=seed)[0]), []
    for step in range(1, steps + 1):
        action = agent.explore(obs, step - 1)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(obs, action, reward, agent.encode(next_obs), terminated, truncated)
        obs = agent.encode(env.reset()[0] if terminated or truncated else next_obs)
        if step > c.learning_starts and step % c.train_freq == 0:
            metrics.append(agent.train_step(replay.sample(c.batch_size, c.gamma)))
        agent.on_step(step)
    return metrics


@pytest.mark.parametrize("algo", ["dqn", "sac", "td3", "ddpg"])
def test_agents_train_on_a_dict_observation(algo, tmp_path):
    env = DictCorridor(continuous=algo != "dqn")
    agent = ALGORITHMS[algo](env.observation_space, env.action_space, TINY, seed=0, total_steps=120)
    assert agent.obs_dim == spaces.flatdim(env.observation_space) == 2 + 10 + 2 + 5
    before = agent.state_dict()[0]
    metrics = custom_loop(agent, env, 120)
    assert metrics and all(np.isfinite(v) for m in metrics for v in m.values())
    after = agent.state_dict()[0]
    moved = "q/0.weight" if algo == "dqn" else "actor/0.weight"
    assert not np.array_equal(before[moved], after[moved])
    obs = env.reset(seed=3)[0]
    assert env.action_space.contains(np.asarray(agent.predict(obs), dtype=env.action_space.dtype)
                                     if algo != "dqn" else agent.predict(obs))
    result = evaluate(agent.predict, env, episodes=2)             # raw env observations, through the agent
    assert len(result.returns) == 2
    loaded, _ = load_agent(save_agent(agent, tmp_path / "agent.npz"))
    assert loaded.observation_space == env.observation_space
    np.testing.assert_array_equal(loaded.predict(obs), agent.predict(obs))


def test_dqn_learns_frozen_lake_from_one_hot_cells():
    """FrozenLake's observation is Discrete(16): one-hot rows. Not slippery, 1500 steps: the
    greedy policy reaches the goal (seeds 0-4 all do)."""
    env = gym.make("FrozenLake-v1", is_slippery=False)
    config = {"net_arch": [32], "learning_starts": 100, "batch_size": 32, "train_freq": 1, "learning_rate": 1e-2,
              "target_update_interval": 50, "exploration_fraction": 0.5, "gamma": 0.9, "buffer_size": 5000}
    agent = DQN(env.observation_space, env.action_space, config, seed=0, total_steps=1500)
    custom_loop(agent, env, 1500)
    np.testing.assert_array_equal(agent.encode(np.array([0, 15]))[:, [0, 15]], np.eye(2))
    assert evaluate(agent.predict, env, episodes=1).mean_return == 1.0


@pytest.mark.parametrize("algo", ["dqn", "sac", "td3"])
def test_predict_takes_one_observation_or_a_batch_and_is_act(algo):
    env = DictCorridor(continuous=algo != "dqn")
    agent = ALGORITHMS[algo](env.observation_space, env.action_space, TINY, seed=1)
    envs = gym.vector.SyncVectorEnv([lambda: DictCorridor(continuous=algo != "dqn") for _ in range(3)])
    batch, _ = envs.reset(seed=[0, 1, 2])
    many = agent.predict(batch)
    assert len(many) == 3
    for i, seed in enumerate((0, 1, 2)):
        one = agent.predict(DictCorridor(continuous=algo != "dqn").reset(seed=seed)[0])
        np.testing.assert_allclose(one, many[i], rtol=1e-5)          # a 1-row product may round differently
    np.testing.assert_array_equal(agent.act(batch, deterministic=True), many)
    rows = agent.encode(batch)
    np.testing.assert_array_equal(agent.predict(rows), many)          # encoded rows act the same
    envs.close()


def test_dqn_without_a_run_length_refuses_to_explore_rather_than_guess():
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space)
    with pytest.raises(ValueError, match=r"DQN.total_steps is not set.*ε's decay") as info:
        agent.explore(np.zeros(4, np.float32), 0)
    assert "\n" not in str(info.value) and "total_steps=N" in str(info.value)
    agent.total_steps = 1000                                    # set later: the schedule is right
    c = agent.config
    assert agent.epsilon(0) == c.exploration_initial_eps
    assert agent.epsilon(50) == pytest.approx(1.0 + 0.5 * (c.exploration_final_eps - 1.0))
    assert agent.epsilon(100) == pytest.approx(c.exploration_final_eps)
    given = DQN(env.observation_space, env.action_space, total_steps=1000)
    assert given.epsilon(50) == agent.epsilon(50)
    fixed = DQN(env.observation_space, env.action_space, {"exploration_fraction": 0.0})
    assert fixed.total_steps is None and fixed.epsilon(0) == pytest.approx(c.exploration_final_eps)
    fixed.explore(np.zeros(4, np.float32), 0)                   # nothing depends on the length: fine


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_a_linear_learning_rate_needs_the_run_length(cls):
    env = gym.make("Pendulum-v1")
    agent = cls(env.observation_space, env.action_space, {**TINY, "learning_rate_schedule": "linear"})
    with pytest.raises(ValueError, match=f"{cls.__name__}.total_steps is not set.*'linear' learning_rate_schedule"):
        agent.on_step(1)
    agent.total_steps = 10
    agent.on_step(5)
    assert agent.actor_optimizer.lr == pytest.approx(agent.config.learning_rate / 2)
    constant = cls(env.observation_space, env.action_space, TINY)
    constant.on_step(5)                                          # a constant rate needs no length
    assert constant.total_steps is None and constant.actor_optimizer.lr == constant.config.learning_rate


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "100"])
def test_a_run_length_is_a_positive_whole_number(bad):
    env = gym.make("CartPole-v1")
    with pytest.raises(ValueError, match="total_steps must be a positive whole number"):
        DQN(env.observation_space, env.action_space, total_steps=bad)


def test_an_unset_run_length_survives_a_checkpoint(tmp_path):
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space, {"exploration_fraction": 0.0})
    loaded, meta = load_agent(save_agent(agent, tmp_path / "a.npz"))
    assert meta["total_steps"] is None and loaded.total_steps is None
    agent.total_steps = np.int64(500)
    loaded, _ = load_agent(save_agent(agent, tmp_path / "b.npz"))
    assert loaded.total_steps == 500 and type(loaded.total_steps) is int
