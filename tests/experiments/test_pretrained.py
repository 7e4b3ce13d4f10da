"""The shipped checkpoints load and do what they were trained to do (short, seeded checks)."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the walker ids)
from agents import evaluate, load_agent

PRETRAINED = Path(__file__).resolve().parents[2] / "experiments" / "pretrained"


def test_every_shipped_checkpoint_loads_and_names_its_env():
    files = sorted(PRETRAINED.glob("*.npz"))
    assert files, "no pretrained checkpoints shipped"
    for path in files:
        agent, meta = load_agent(path)
        assert meta["policy_only"] and meta["env_id"]
        env = gym.make(meta["env_id"])
        obs, _ = env.reset(seed=0)
        assert env.action_space.contains(np.asarray(agent.act(obs), dtype=env.action_space.dtype))


def test_cartpole_agent_balances():
    agent, _ = load_agent(PRETRAINED / "cartpole_dqn.npz")
    assert evaluate(lambda o: agent.act(o), gym.make("CartPole-v1"), episodes=2, seed=11).mean_return >= 475


def test_pendulum_agent_swings_up():
    agent, _ = load_agent(PRETRAINED / "pendulum_sac.npz")
    assert evaluate(lambda o: agent.act(o), gym.make("Pendulum-v1"), episodes=3, seed=5).mean_return >= -250


@pytest.mark.parametrize("name, env_id", [("walker_sac.npz", "rlnn/Walker-v0"),
                                          ("walker_rough_sac.npz", "rlnn/WalkerRough-v0")])
def test_walker_walks_forward_without_falling(name, env_id):
    agent, _ = load_agent(PRETRAINED / name)
    env = gym.make(env_id)
    obs, info = env.reset(seed=2024)
    for _ in range(300):  # 6 s of a 32 s episode
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        assert not info["fell"]
        if terminated or truncated:
            break
    assert info["distance"] > 10.0  # the scripted gait covers ~2 m in 300 steps
