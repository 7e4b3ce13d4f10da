"""The split vector env (sub-envs shared out between this process and forked workers) behaves as
``SyncVectorEnv`` with autoreset disabled, and the on-policy lanes that use it leave a run's
results as they were."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from agents.forked import fork_available
from agents.loop import RunSettings
from agents.on_policy import OnPolicyTrainer
from agents.ppo import PPO
from agents.split_env import SplitVectorEnv

pytestmark = pytest.mark.skipif(not fork_available(), reason="needs os.fork")


class Chatty(gym.Env):
    """A small env whose infos, rewards and observations depend on its reset seed and actions;
    it fails on an action of 99."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    action_space = gym.spaces.Discrete(100)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.seed_seen = 0, seed
        return self.np_random.normal(size=3).astype(np.float32), {"seed": seed}

    def step(self, action):
        if action == 99:
            raise ArithmeticError(f"bad action {action} for the env of seed {self.seed_seen}")
        self.t += 1
        obs = self.np_random.normal(size=3).astype(np.float32) + action
        info = {"every_third": self.t} if self.t % 3 == 0 else {}
        return obs, float(action) * 0.5, self.t >= 5 + action % 3, self.t >= 7, info


def drive(venv: gym.vector.VectorEnv, steps: int = 25) -> list:
    """Step with fixed actions, resetting finished sub-envs with seeds; every output collected."""
    n, rng, seen = venv.num_envs, np.random.default_rng(0), []
    seen.append(venv.reset(seed=list(range(n))))
    for k in range(steps):
        out = venv.step(rng.integers(0, 4, n))
        seen.append(out)
        done = out[2] | out[3]
        if done.any():
            seeds = [100 + k * n + i if d else None for i, d in enumerate(done)]
            seen.append(venv.reset(seed=seeds, options={"reset_mask": done}))
    return seen


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


@pytest.mark.parametrize("processes", [2, 3])
def test_steps_resets_and_infos_match_sync(processes):
    """5 sub-envs (uneven shares): every observation, reward, flag and info as SyncVectorEnv's."""
    sync = gym.vector.SyncVectorEnv([Chatty] * 5, autoreset_mode=AutoresetMode.DISABLED)
    split = SplitVectorEnv(Chatty, 5, processes)
    try:
        expected, got = drive(sync), drive(split)
        assert same(expected, got)
        assert any(out[4] for out in got if len(out) == 5)          # some steps had infos to merge
        assert split.metadata["autoreset_mode"] == AutoresetMode.DISABLED
        assert split.get_attr("seed_seen") == sync.get_attr("seed_seen")
        assert split.call("reset", seed=3)[4][1] == {"seed": 3}
    finally:
        split.close()
        sync.close()


def test_a_sub_env_error_is_raised_here_and_close_reaps_the_workers():
    split = SplitVectorEnv(Chatty, 4, 2)
    split.reset(seed=[1, 2, 3, 4])
    with pytest.raises(ArithmeticError, match="bad action 99 for the env of seed 4"):
        split.step(np.array([0, 0, 0, 99]))           # sub-env 3 lives in the worker
    split.step(np.array([1, 1, 1, 1]))                # still usable, as a SyncVectorEnv would be
    pids = list(split._group.pids)
    split.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_bad_reset_mask_is_one_line():
    split = SplitVectorEnv(Chatty, 2, 2)
    try:
        with pytest.raises(ValueError, match="reset_mask"):
            split.reset(options={"reset_mask": np.array([1, 0])})
    finally:
        split.close()


def ppo(**config) -> PPO:
    env = gym.make("CartPole-v1")
    return PPO(env.observation_space, env.action_space, {"n_envs": 4, "n_steps": 32, "batch_size": 64,
                                                         "n_epochs": 2, **config}, seed=3)


def test_lanes_split_the_sub_envs_and_leave_the_results_as_they_were():
    agents = []
    for lanes in (1, 2):
        agent = ppo()
        trainer = OnPolicyTrainer(agent, "CartPole-v1", RunSettings(512, seed=1, progress=False, eval_freq=0,
                                                                    lanes=lanes))
        assert isinstance(trainer.env, SplitVectorEnv) == (lanes == 2)
        trainer.run()
        agents.append(agent)
    one, two = (np.concatenate([p.value.ravel() for p in a.optimizer.params]) for a in agents)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("config, lanes, message", [
    ({"n_envs": 1}, 2, "lanes=2 splits the sub-envs over processes, but n_envs=1"),
    ({"vec_env": "async"}, 2, "vec_env='async' already steps each sub-env in a process of its own"),
])
def test_lanes_that_cannot_apply_are_refused_in_one_line(config, lanes, message):
    with pytest.raises(ValueError, match=message):
        OnPolicyTrainer(ppo(**config), "CartPole-v1", RunSettings(100, progress=False, lanes=lanes))
