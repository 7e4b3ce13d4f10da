"""The trainer takes any env: a registered id, an env instance, a factory (vector envs: see
test_vector_envs.py); where its evaluation env comes from; one env is the loop as it was."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents import DQN, SAC, OffPolicyTrainer, RunSettings
from agents.evaluation import EVAL_SEED_OFFSET
from agents.loop import make_replay
from agents.parallel import SERIAL
from agents.run_folder import RunFolderError

CARTPOLE = gym.make("CartPole-v1")
SAME_ENV = gym.make("CartPole-v1")
TINY = {"net_arch": [16], "learning_starts": 50, "batch_size": 16, "target_update_interval": 50}


class Corridor(gym.Env):
    """A deterministic env without a registered id: walk right (action 1) to the end at 1.0."""
    observation_space = spaces.Box(0.0, 2.0, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = float(self.np_random.uniform(0.0, 0.2)), 0
        return self._obs(), {}

    def _obs(self):
        return np.array([self.pos, self.t / 40], np.float32)

    def step(self, action):
        self.pos = max(0.0, self.pos + (0.1 if action == 1 else -0.05))
        self.t += 1
        return self._obs(), self.pos - 1.0, self.pos >= 1.0, self.t >= 40, {}


class Unrebuildable(gym.Wrapper):
    """A wrapper gymnasium cannot recreate from a spec (no RecordConstructorArgs)."""


def dqn(space_env=CARTPOLE, **config) -> DQN:
    return DQN(space_env.observation_space, space_env.action_space, {**TINY, **config}, seed=1)


def params(agent) -> dict[str, np.ndarray]:
    return agent.state_dict()[0]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def settings(steps=300, **kw) -> RunSettings:
    return RunSettings(steps, seed=1, progress=False, lanes=1, **kw)


def test_an_id_an_instance_and_a_factory_train_alike(tmp_path):
    results = {}
    for name, env in [("id", "CartPole-v1"), ("instance", gym.make("CartPole-v1")),
                      ("factory", lambda: gym.make("CartPole-v1"))]:
        agent = dqn()
        trainer = OffPolicyTrainer(agent, env, settings(run_dir=tmp_path / name))
        trainer.run()
        assert trainer.env_id == "CartPole-v1"                   # the instance's spec names it
        assert json.loads((tmp_path / name / "run.json").read_text())["env_id"] == "CartPole-v1"
        results[name] = params(agent)
    assert_same(results["id"], results["instance"])
    assert_same(results["id"], results["factory"])


def reference_run(agent, env_id: str, steps: int, seed: int) -> None:
    """The one-env loop as it was before vector envs, callbacks and TensorBoard (no run folder)."""
    env, c = gym.make(env_id), agent.config
    replay, rng = make_replay(agent, seed), np.random.default_rng([seed, 2])
    agent.total_steps = steps
    obs, _ = env.reset(seed=int(rng.integers(0, EVAL_SEED_OFFSET)))
    for step in range(1, steps + 1):
        action = agent.explore(obs, step - 1)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset(seed=int(rng.integers(0, EVAL_SEED_OFFSET)))
        if step > c.learning_starts and step % c.train_freq == 0:
            SERIAL.run_round(agent, [replay.sample(c.batch_size, c.gamma, c.n_step) for _ in range(c.gradient_steps)])
        agent.on_step(step)


@pytest.mark.parametrize(("cls", "env_id", "config"), [
    (DQN, "CartPole-v1", {"train_freq": 2, "gradient_steps": 2, "n_step": 3}),
    (SAC, "Pendulum-v1", {"learning_rate_schedule": "linear"}),
])
def test_one_env_gives_exactly_the_results_of_the_loop_as_it_was(cls, env_id, config):
    env = gym.make(env_id)
    make = lambda: cls(env.observation_space, env.action_space,  # noqa: E731
                       {"net_arch": [16], "learning_starts": 60, "batch_size": 16, **config}, seed=2)
    reference, agent = make(), make()
    reference_run(reference, env_id, 400, seed=2)
    OffPolicyTrainer(agent, env_id, RunSettings(400, seed=2, progress=False, lanes=1)).run()
    assert reference.n_updates == agent.n_updates > 0
    assert_same(params(reference), params(agent))


def test_an_env_without_an_id_needs_its_eval_env_and_resumes_when_given_again(tmp_path):
    corridor = Corridor()
    with pytest.raises(ValueError, match="has no spec to make an evaluation env from; pass eval_env=") as info:
        OffPolicyTrainer(dqn(corridor), Corridor(), settings(eval_freq=100))
    assert "\n" not in str(info.value)

    def train(name: str, stop_at: int | None = None) -> OffPolicyTrainer:
        trainer = OffPolicyTrainer(dqn(corridor), Corridor(), settings(eval_freq=100, eval_episodes=1,
                                                                       run_dir=tmp_path / name), eval_env=Corridor)
        trainer.run(stop_at)
        return trainer

    whole = train("whole")
    assert whole.env_id is None and json.loads((tmp_path / "whole" / "run.json").read_text())["env_id"] is None
    assert whole.last_eval is not None and (tmp_path / "whole" / "final.npz").is_file()
    cut = train("cut", stop_at=170)
    assert cut.episode_length > 0                   # stopped in the middle of an episode
    with pytest.raises(RunFolderError, match="without a registered id; pass it again"):
        OffPolicyTrainer.resume(tmp_path / "cut")
    resumed = OffPolicyTrainer.resume(tmp_path / "cut", progress=False, env=Corridor(), eval_env=Corridor)
    resumed.run()
    assert_same(params(whole.agent), params(resumed.agent))


def test_the_eval_env_is_the_one_given_or_made_from_the_spec():
    lengths = []
    record = lambda trainer, result: lengths.append(max(result.lengths))  # noqa: E731
    short = gym.make("CartPole-v1", max_episode_steps=7)           # its spec holds the time limit
    OffPolicyTrainer(dqn(), short, settings(200, eval_freq=100, eval_episodes=2), on_eval=record).run()
    OffPolicyTrainer(dqn(), "CartPole-v1", settings(200, eval_freq=100, eval_episodes=2), on_eval=record,
                     eval_env=gym.make("CartPole-v1", max_episode_steps=3)).run()
    assert lengths[:2] == [7, 7] and lengths[2:] == [3, 3]


@pytest.mark.parametrize(("env", "kwargs", "message"), [
    (42, {}, "env must be an env id, a gymnasium.Env, a factory"),
    (gym.make("CartPole-v1"), {"env_kwargs": {"g": 1}}, "env_kwargs apply to an env id only"),
    (gym.make("CartPole-v1"), {"n_envs": 2}, "n_envs=2 needs an env id or a factory"),
    ("Pendulum-v1", {}, "but the agent was built for"),
    (lambda: 3, {}, "returned int, not a gymnasium.Env"),
    ("CartPole-v1", {"eval_env": gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")])},
     "eval_env must be one env"),
    ("CartPole-v1", {"tensorboard": True}, "tensorboard=True needs a run_dir"),
    (SAME_ENV, {"eval_env": SAME_ENV}, "eval_env must be another env than the one trained on"),
    (Unrebuildable(gym.make("CartPole-v1")), {"eval_freq": 100}, "cannot rebuild an evaluation env from the spec"),
])
def test_an_env_the_trainer_cannot_use_is_a_one_line_error(env, kwargs, message):
    n_envs = kwargs.pop("n_envs", 1)
    eval_env = kwargs.pop("eval_env", None)
    with pytest.raises(ValueError, match=message) as info:
        OffPolicyTrainer(dqn(n_envs=n_envs), env, settings(**kwargs), eval_env=eval_env)
    assert "\n" not in str(info.value)


def test_a_run_that_would_make_no_update_says_so_once():
    lines = []
    trainer = OffPolicyTrainer(dqn(learning_starts=1000), "CartPole-v1", settings(300), log=lines.append)
    trainer.run()
    warnings = [line for line in lines if "no update will be made" in line]
    assert warnings == ["dqn on CartPole-v1: learning_starts=1000 >= 300 total steps, so no update will be made; "
                        "lower it with --set learning_starts=N"]
    assert trainer.agent.n_updates == 0
    quiet = []
    OffPolicyTrainer(dqn(), "CartPole-v1", settings(300), log=quiet.append).run()
    assert not [line for line in quiet if "no update" in line]
