"""Collecting from n envs at once: every transition stored, counted as Stable-Baselines3 counts,
the same run for the same seed (sync or async), and exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from agents import DQN, OffPolicyTrainer, ReplayBuffer, RunSettings

CARTPOLE = gym.make("CartPole-v1")
TINY = {"net_arch": [16], "learning_starts": 40, "batch_size": 16, "target_update_interval": 50, "train_freq": 2}


def dqn(**config) -> DQN:
    return DQN(CARTPOLE.observation_space, CARTPOLE.action_space, {**TINY, **config}, seed=1)


def settings(steps: int, **kw) -> RunSettings:
    return RunSettings(steps, seed=1, progress=False, lanes=1, **kw)


def params(agent) -> dict[str, np.ndarray]:
    return agent.state_dict()[0]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def episode_rows(run_dir) -> list[list[str]]:
    """kind, step, episode, return, length of each metrics.csv row (not the timings)."""
    return [line.split(",")[:5] for line in (run_dir / "metrics.csv").read_text().splitlines()]


@pytest.mark.parametrize("n", [2, 4])
def test_every_transition_of_every_sub_env_is_stored_and_counted(n, tmp_path):
    agent = dqn(n_envs=n)
    seen = []
    on_step = agent.on_step
    agent.on_step = lambda step: (seen.append(step), on_step(step))
    trainer = OffPolicyTrainer(agent, "CartPole-v1", settings(203, run_dir=tmp_path))
    trainer.run()
    loop_steps = -(-203 // n)
    assert trainer.step == loop_steps * n == len(trainer.replay)            # n transitions per vector step
    assert seen == list(range(1, trainer.step + 1))                          # on_step sees every count
    trained = [v for v in range(1, loop_steps + 1) if v * n > TINY["learning_starts"] and v % TINY["train_freq"] == 0]
    assert agent.n_updates == len(trained)                                   # train_freq counts vector steps
    ended = int((trainer.replay.terminated | trainer.replay.truncated).sum())
    rows = [r for r in episode_rows(tmp_path) if r[0] == "episode"]
    assert trainer.episode == len(rows) == ended > 0                         # a row per episode of any sub-env


def chained(replay: ReplayBuffer, n: int) -> None:
    """Sub-env i's rows are i, i + n, ...: each next_obs is the next row's obs unless the episode
    ended, and after an end comes a fresh CartPole start (all |x| <= 0.05), never the reset itself."""
    size = len(replay)
    done = replay.terminated[: size - n] | replay.truncated[: size - n]
    nxt, later = replay.next_obs[: size - n], replay.obs[n:size]
    np.testing.assert_array_equal(nxt[~done], later[~done])
    assert done.any() and np.all(np.abs(later[done]) <= 0.05) and not np.array_equal(nxt[done], later[done])


@pytest.mark.parametrize("mode", [None, AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_the_rows_of_a_sub_env_follow_its_episodes_whatever_the_autoreset_mode(mode):
    env = "CartPole-v1" if mode is None else SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3, autoreset_mode=mode)
    trainer = OffPolicyTrainer(dqn(n_envs=3), env, settings(300))
    trainer.run()
    assert len(trainer.replay) == 300
    chained(trainer.replay, 3)


def test_the_same_seed_gives_the_same_run_sync_or_async():
    runs = []
    for mode in ("sync", "sync", "async"):
        trainer = OffPolicyTrainer(dqn(n_envs=3, vec_env=mode), "CartPole-v1", settings(240))
        trainer.run()
        trainer.close()
        runs.append(params(trainer.agent))
    assert_same(runs[0], runs[1])
    assert_same(runs[0], runs[2])
    other = OffPolicyTrainer(dqn(n_envs=2), "CartPole-v1", settings(240))
    other.run()
    assert not np.array_equal(runs[0]["q/0.weight"], params(other.agent)["q/0.weight"])


def test_evaluations_and_checkpoints_come_when_a_vector_step_crosses_their_multiple(tmp_path):
    trainer = OffPolicyTrainer(dqn(n_envs=4), "CartPole-v1", settings(60, eval_freq=25, eval_episodes=1,
                                                                      checkpoint_freq=10, run_dir=tmp_path))
    trainer.run()
    saved = sorted(int(p.stem[5:]) for p in (tmp_path / "checkpoints").glob("step_*.npz"))
    assert saved == [12, 20, 32, 40, 52, 60]
    assert [int(r[1]) for r in episode_rows(tmp_path) if r[0] == "eval"] == [28, 52]


def test_a_vector_env_given_is_used_as_it_is():
    envs = SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    trainer = OffPolicyTrainer(dqn(), envs, settings(100))
    assert trainer.n_envs == 2 and trainer.agent.config.n_envs == 2 and trainer.env_id == "CartPole-v1"
    trainer.run()
    assert trainer.step == 100 == len(trainer.replay)
    with pytest.raises(ValueError, match="config n_envs=3 but the vector env given has 2 envs"):
        OffPolicyTrainer(dqn(n_envs=3), envs, settings(100))


def test_an_async_env_that_would_reset_a_sub_env_twice_is_refused():
    envs = gym.vector.AsyncVectorEnv([lambda: gym.make("CartPole-v1")] * 2, shared_memory=False)
    try:
        with pytest.raises(ValueError, match="shared_memory=False and next-step autoreset"):
            OffPolicyTrainer(dqn(), envs, settings(100))
    finally:
        envs.close()


@pytest.mark.parametrize(("n", "vec_env"), [(2, "sync"), (3, "async")])
def test_a_resumed_run_with_several_envs_equals_an_uninterrupted_one(n, vec_env, tmp_path):
    def trainer(name: str) -> OffPolicyTrainer:
        return OffPolicyTrainer(dqn(n_envs=n, vec_env=vec_env), "CartPole-v1",
                                settings(400, run_dir=tmp_path / name, checkpoint_freq=100))

    whole = trainer("whole")
    whole.run()
    whole.close()
    cut = trainer("cut")
    cut.run(stop_at=150)
    cut.save_checkpoints(periodic=False)         # the resume point, with episodes in progress ...
    assert cut.episode_length.max() > 0 and len(set(cut.episode_length.tolist())) > 1   # unequal lengths
    cut.run(stop_at=230)                         # ... while the run went on, and then died
    cut.close()
    resumed = OffPolicyTrainer.resume(tmp_path / "cut", progress=False)
    resumed.run()
    resumed.close()
    assert_same(params(whole.agent), params(resumed.agent))
    assert episode_rows(tmp_path / "cut") == episode_rows(tmp_path / "whole")
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["config"]["n_envs"] == n


def test_n_step_returns_follow_each_sub_env_through_interleaved_rows():
    # Two sub-envs, rows in vector-step order: sub-env 0 gets rewards 1, 2, 3, ..., sub-env 1
    # rewards 100, 200, ...; sub-env 1's episode ends at its third step.
    replay = ReplayBuffer(64, 1, rng=0, n_envs=2)
    for t in range(6):
        rows = np.array([[t], [10 + t]], np.float32)
        replay.add_batch(rows, np.zeros(2, np.int64), np.array([t + 1, 100 * (t + 1)], np.float32), rows + 1,
                         np.array([False, t == 2]), np.zeros(2, bool))
    batch = replay.sample(200, gamma=0.5, n_step=3)
    for obs, reward, discount, terminated in zip(batch.obs[:, 0], batch.rewards, batch.discount, batch.terminated):
        if obs < 10:          # sub-env 0, step t: rewards t+1, t+2, t+3 (as far as stored)
            t = int(obs)
            k = min(3, 6 - t)
            assert reward == sum(0.5 ** i * (t + 1 + i) for i in range(k)) and discount == 0.5 ** k
        else:
            t = int(obs) - 10
            k = min(3, 3 - t) if t <= 2 else min(3, 6 - t)
            assert reward == sum(0.5 ** i * 100 * (t + 1 + i) for i in range(k)) and discount == 0.5 ** k
            assert terminated == (t <= 2)


SCRIPT = """
import sys, gymnasium as gym
from agents import DQN, OffPolicyTrainer, RunSettings
env = gym.make("CartPole-v1")
agent = DQN(env.observation_space, env.action_space, {"net_arch": [16], "n_envs": 2, "vec_env": "async"}, seed=1)
trainer = OffPolicyTrainer(agent, "CartPole-v1", RunSettings(10**6, run_dir=sys.argv[1], progress=False, lanes=1,
                                                              checkpoint_freq=100))
print(trainer.run()["interrupted"], flush=True)
trainer.close()
"""


def test_ctrl_c_to_the_process_group_stops_an_async_run_cleanly(tmp_path):
    """A terminal's Ctrl-C reaches the env worker processes too; they ignore it, and the run
    stops as with one env: a resume point, exit status 0."""
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "run")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True,
                               cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / "checkpoints" / "step_100.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err[-500:]
    assert out.strip() == "True" and "Error" not in err
    assert (tmp_path / "run" / "checkpoints" / "resume.npz").is_file()
