"""Tests of the Pymunk walker environments (rlnn/Walker-v0, rlnn/WalkerRough-v0)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs import walker
from envs.gait import SineGait, run_gait

IDS = list(envs.WALKER_IDS)


def random_actions(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, 4)).astype(np.float32)


def rollout(env: gym.Env, actions: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Observations and rewards of ``actions`` from ``reset(seed)``; resets (unseeded) on ends."""
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for a in actions:
        obs, r, terminated, truncated, _ = env.step(a)
        observations.append(obs)
        rewards.append(r)
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(obs)
    return np.array(observations), np.array(rewards)


@pytest.mark.parametrize("env_id", IDS)
def test_registered_with_time_limit(env_id: str) -> None:
    env = gym.make(env_id)
    assert env.spec.max_episode_steps == walker.TIME_LIMIT
    assert isinstance(env.unwrapped, walker.WalkerEnv)
    assert env.observation_space.shape == (24,) and env.observation_space.dtype == np.float32
    assert env.action_space == gym.spaces.Box(-1, 1, (4,), np.float32)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_without_warnings(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        check_env(env)


def test_import_is_cheap_and_does_not_load_pygame() -> None:
    code = "import sys, envs; assert 'pygame' not in sys.modules; assert 'PIL' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_actions_same_trajectory(env_id: str) -> None:
    actions = random_actions(400, seed=1)
    obs_a, rew_a = rollout(gym.make(env_id), actions, seed=123)
    obs_b, rew_b = rollout(gym.make(env_id), actions, seed=123)
    assert np.array_equal(obs_a, obs_b)  # bit for bit
    assert np.array_equal(rew_a, rew_b)


def test_rough_terrain_depends_on_seed() -> None:
    env = gym.make("rlnn/WalkerRough-v0").unwrapped
    env.reset(seed=1)
    t1 = env.terrain.copy()
    env.reset(seed=2)
    assert t1.shape != env.terrain.shape or not np.array_equal(t1, env.terrain)
    env.reset(seed=1)
    assert np.array_equal(t1, env.terrain)
    assert np.ptp(t1[:, 1]) > 0.1  # really uneven


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_and_copy_round_trip(env_id: str) -> None:
    env = gym.make(env_id).unwrapped
    actions = random_actions(100, seed=2)
    expected, _ = rollout(env, actions, seed=7)
    for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
        assert clone.rough == env.rough
        got, _ = rollout(clone, actions, seed=7)
        assert np.array_equal(expected, got)


@pytest.mark.parametrize("env_id", IDS)
def test_random_actions_stay_physical(env_id: str) -> None:
    """5,000 random steps: finite, inside the declared space, joints never pull apart."""
    env = gym.make(env_id)
    space = env.observation_space
    obs, _ = env.reset(seed=0)
    worst = 0.0
    for i, a in enumerate(random_actions(5000, seed=3)):
        obs, reward, terminated, truncated, info = env.step(a)
        assert np.isfinite(reward) and np.isfinite(info["distance"])
        assert space.contains(obs), (i, obs)
        if i % 10 == 0:
            worst = max(worst, env.unwrapped.joint_separation())
        if terminated or truncated:
            obs, _ = env.reset()
    assert worst < 0.05  # metres


@pytest.mark.slow
@pytest.mark.parametrize("env_id", IDS)
def test_random_actions_stay_physical_100k(env_id: str) -> None:
    env = gym.make(env_id)
    space = env.observation_space
    env.reset(seed=0)
    worst = 0.0
    for i, a in enumerate(random_actions(100_000, seed=4)):
        obs, reward, terminated, truncated, _info = env.step(a)
        assert np.isfinite(reward) and space.contains(obs), (i, obs)
        if i % 10 == 0:
            worst = max(worst, env.unwrapped.joint_separation())
        if terminated or truncated:
            env.reset()
    assert worst < 0.05


@pytest.mark.parametrize(
    "action",
    [
        np.zeros(3),
        np.zeros((2, 2)),
        np.zeros(5),
        [0.0, np.nan, 0.0, 0.0],
        [np.inf, 0, 0, 0],
        ["a", "b", "c", "d"],
        "fast",
        None,
    ],
)
def test_bad_actions_raise_clear_errors(action: object) -> None:
    env = gym.make("rlnn/Walker-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(action)


def test_out_of_range_actions_are_clipped() -> None:
    big = np.array([[3.0, -7.0, 1.5, -1.2]] * 50)
    obs_big, rew_big = rollout(gym.make("rlnn/Walker-v0"), big, seed=5)
    obs_one, rew_one = rollout(gym.make("rlnn/Walker-v0"), np.clip(big, -1, 1), seed=5)
    assert np.array_equal(obs_big, obs_one)
    assert np.array_equal(rew_big, rew_one)  # the torque cost uses the clipped action too


def test_step_before_reset_raises() -> None:
    with pytest.raises(RuntimeError):
        walker.WalkerEnv().step(np.zeros(4))


def test_fall_is_penalised_and_terminates() -> None:
    env = gym.make("rlnn/Walker-v0")
    env.reset(seed=0)
    # Fling both hips back and fold the knees: the hull goes down.
    for _ in range(500):
        _, reward, terminated, truncated, info = env.step(np.array([-1.0, -1.0, -1.0, -1.0]))
        if terminated or truncated:
            break
    assert terminated and info["fell"] and not info["finished"]
    assert reward == walker.FALL_REWARD


def test_info_and_reward_shaping() -> None:
    env = gym.make("rlnn/Walker-v0")
    _, info = env.reset(seed=0)
    assert info == {"distance": 0.0, "fell": False, "finished": False}
    _, reward, _, _, info = env.step(np.zeros(4))
    assert abs(reward) < 1.0 and abs(info["distance"]) < 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scripted_gait_walks_five_metres_and_course_is_four_times_longer(seed: int) -> None:
    env = gym.make("rlnn/Walker-v0")
    gait = SineGait()
    result = run_gait(env, gait, 1000, seed=seed)
    assert not result["fell"] and result["distance"] >= 5.0, result
    full = run_gait(env, gait, walker.TIME_LIMIT, seed=seed)
    assert not full["fell"] and not full["finished"] and full["steps"] == walker.TIME_LIMIT, full
    assert walker.COURSE_LENGTH >= 4 * full["distance"], full


def test_scripted_gait_is_open_loop() -> None:
    """The targets depend on time only; the observation enters only through the joint servo."""
    gait = SineGait()
    obs = np.zeros(24, dtype=np.float32)
    other = obs.copy()
    other[[0, 1, 2, 3, 8, 13]] = [0.3, -1.0, 2.0, 0.5, 1.0, 1.0]  # hull state and contacts
    other[14:] = 0.2  # range-finder
    for step in (1, 17, 60):
        assert np.array_equal(gait.action(obs, step), gait.action(other, step))


def test_reaching_the_end_of_the_course_terminates() -> None:
    env = gym.make("rlnn/Walker-v0", course_length=0.05)
    env.reset(seed=0)
    for _ in range(200):  # the first lurch forward crosses a 5 cm finish line
        _, _reward, terminated, truncated, info = env.step(np.array([1.0, 0.0, -1.0, 0.0]))
        if terminated or truncated:
            break
    assert terminated and info["finished"] and info["distance"] >= 0.05


@pytest.mark.parametrize("env_id", IDS)
def test_rgb_array_frames(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (walker.VIEWPORT_H, walker.VIEWPORT_W, 3) and first.dtype == np.uint8
    for a in random_actions(20, seed=6):
        env.step(a)
    second = env.render()
    assert not np.array_equal(first, second)
    assert len(np.unique(second.reshape(-1, 3), axis=0)) > 4  # sky, ground, body, ...


def test_sync_vector_env() -> None:
    vec = gym.make_vec("rlnn/Walker-v0", num_envs=2, vectorization_mode="sync")
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, 24)
    obs, rewards, *_ = vec.step(np.zeros((2, 4), dtype=np.float32))
    assert obs.shape == (2, 24) and rewards.shape == (2,)
    vec.close()
