"""Observation and reward normalization: the running statistics, where they are counted (explore)
and applied (act/predict, prepare), frozen when acting, saved in checkpoints and policy files, and
nothing at all when off."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from agents import ALGORITHMS, OffPolicyTrainer, load_agent, save_agent
from agents.checkpoint import agent_from_state, export_policy
from agents.config import RunSettings
from agents.replay import Batch
import rlnn
from rlnn.normalization import RunningMeanStd

OBS = spaces.Box(-np.inf, np.inf, (3,), np.float32)
DISCRETE = spaces.Discrete(2)
BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)
TINY = {"net_arch": [8], "learning_starts": 0, "batch_size": 8}
ON = {**TINY, "normalize_observations": True, "normalize_rewards": True}


def agent(algo, config=None, obs_space=OBS):
    return ALGORITHMS[algo](obs_space, DISCRETE if algo == "dqn" else BOX, config or ON, seed=0, total_steps=100)


def sampled(algo, obs, rewards, next_obs=None):
    """A sampled batch of ``len(rewards)`` transitions, actions zero."""
    n = len(rewards)
    actions = np.zeros(n, np.int64) if algo == "dqn" else np.zeros((n, 2), np.float32)
    return Batch(obs, actions, rewards, obs if next_obs is None else next_obs, np.zeros(n, np.float32),
                 np.full(n, 0.99, np.float32))


def stream(rng, sizes=(1, 5, 1, 17, 3, 1, 40)):
    return [rng.normal(3.0, [1.0, 10.0, 0.1], (n, 3)) * 1.0 for n in sizes]


def test_running_statistics_are_numpys_mean_and_variance_of_the_stream():
    rng = np.random.default_rng(0)
    stats, seen = RunningMeanStd((3,)), []
    np.testing.assert_array_equal(stats.normalize(np.ones(3)), np.ones(3, np.float32))     # nothing seen: identity
    for rows in stream(rng):
        stats.update(rows if len(rows) > 1 else rows[0])      # one sample, or a batch of them
        seen.append(rows)
        everything = np.concatenate(seen)
        np.testing.assert_allclose(stats.mean, everything.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(stats.var, everything.var(axis=0), rtol=1e-10)
        assert stats.count == len(everything)
    x = rng.normal(size=(4, 3))
    expected = np.clip((x - everything.mean(0)) / np.sqrt(everything.var(0) + 1e-8), -5, 5)
    np.testing.assert_allclose(stats.normalize(x, clip=5.0), expected, rtol=1e-6)


@pytest.mark.parametrize("state, words", [
    ({"mean": np.zeros(3), "var": np.ones(3)}, "need entries"),
    ({"mean": np.zeros(2), "var": np.ones(3), "count": np.array(1.0)}, r"shape \(3,\)"),
    ({"mean": np.zeros(3), "var": -np.ones(3), "count": np.array(1.0)}, "variance"),
    ({"mean": np.full(3, np.nan), "var": np.ones(3), "count": np.array(1.0)}, "non-finite"),
    ({"mean": np.zeros(3), "var": np.ones(3), "count": np.array(-1.0)}, "count"),
])
def test_bad_statistics_are_refused_and_change_nothing(state, words):
    stats = RunningMeanStd((3,))
    stats.update(np.arange(6.0).reshape(2, 3))
    before = stats.state_dict()
    with pytest.raises(ValueError, match=words):
        stats.load_state_dict(state)
    for key, value in stats.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("algo", ["dqn", "sac", "td3"])
def test_explore_counts_each_observation_once_and_acting_never_does(algo):
    a, rng = agent(algo), np.random.default_rng(1)
    seen = []
    for step, rows in enumerate(stream(rng)):
        a.explore(rows[0] if len(rows) == 1 else rows, step)      # one env, or n sub-envs
        seen.append(rows.astype(np.float32))
    everything = np.concatenate(seen)
    assert a.normalization.obs.count == len(everything)
    np.testing.assert_allclose(a.normalization.obs.mean, everything.mean(0), rtol=1e-6)
    frozen = a.normalization.obs.state_dict()
    obs = rng.normal(3.0, 1.0, (6, 3)).astype(np.float32)
    first = a.predict(obs)
    for _ in range(3):
        np.testing.assert_array_equal(a.act(obs, deterministic=True), first)
        a.predict(obs[0])
    for key, value in a.normalization.obs.state_dict().items():
        np.testing.assert_array_equal(value, frozen[key])


@pytest.mark.parametrize("algo", ["dqn", "sac", "td3"])
def test_prepare_normalizes_both_observations_and_scales_rewards(algo):
    a, rng = agent(algo), np.random.default_rng(2)
    a.explore(rng.normal(5.0, 2.0, (50, 3)), 0)
    obs, next_obs = rng.normal(5.0, 2.0, (2, 8, 3)).astype(np.float32)
    raw = sampled(algo, obs, rng.normal(2.0, 1.0, 8).astype(np.float32), next_obs)
    copy = sampled(algo, raw.obs.copy(), raw.rewards.copy(), raw.next_obs.copy())
    (prepared,) = a.prepare([raw])
    stats = a.normalization.obs
    for got, x in ((prepared.obs, raw.obs), (prepared.next_obs, raw.next_obs)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, np.clip((x - stats.mean) / np.sqrt(stats.var + 1e-8), -10, 10), rtol=1e-5)
    rms = np.sqrt(np.mean(raw.rewards.astype(np.float64) ** 2))       # the first batch: its own r²
    np.testing.assert_allclose(prepared.rewards, raw.rewards / rms, rtol=1e-5)
    np.testing.assert_array_equal(raw.obs, copy.obs)                   # the replay's rows stay raw
    np.testing.assert_array_equal(raw.rewards, copy.rewards)
    assert a.normalization.rewards.count == 8


@pytest.mark.parametrize("algo", ["dqn", "sac", "td3", "ddpg"])
def test_off_by_default_and_then_nothing_is_added(algo):
    a = agent(algo, TINY)
    assert a.normalization.obs is None and a.normalization.rewards is None
    arrays, _ = a.state_dict()
    assert not any(k.startswith(("obs_rms", "reward_rms")) for k in arrays)
    given = sampled(algo, np.ones((4, 3), np.float32), np.ones(4, np.float32))
    (prepared,) = a.prepare([given])
    assert prepared.obs is given.obs and prepared.next_obs is given.next_obs and prepared.rewards is given.rewards


@pytest.mark.parametrize("algo", ["dqn", "sac", "td3"])
def test_statistics_are_saved_and_loaded_exactly(algo, tmp_path):
    a, rng = agent(algo), np.random.default_rng(3)
    a.explore(rng.normal(2.0, 3.0, (30, 3)), 0)
    a.prepare([sampled(algo, np.zeros((4, 3), np.float32), rng.normal(size=4).astype(np.float32))])
    obs = rng.normal(2.0, 3.0, (5, 3)).astype(np.float32)
    full, _ = load_agent(save_agent(a, tmp_path / "agent.npz"))
    policy, meta = load_agent(export_policy(a, tmp_path / "policy.npz"))
    assert meta["policy_only"]
    stats = {"obs_rms": a.normalization.obs, "reward_rms": a.normalization.rewards}
    for loaded, sections in ((full, ("obs_rms", "reward_rms")), (policy, ("obs_rms",))):
        arrays = loaded.state_dict()[0]
        for section in sections:
            for key, value in stats[section].state_dict().items():
                np.testing.assert_array_equal(arrays[f"{section}/{key}"], value)
        np.testing.assert_array_equal(loaded.predict(obs), a.predict(obs))
    in_policy_file = rlnn.load_arrays(tmp_path / "policy.npz")[0]
    assert "obs_rms/mean" in in_policy_file and "reward_rms/mean" not in in_policy_file


def test_a_file_whose_statistics_do_not_match_its_config_is_refused(tmp_path):
    on, off = agent("sac"), agent("sac", TINY)
    (arrays, meta), (off_arrays, off_meta) = on.state_dict(), off.state_dict()
    meta["algo"] = off_meta["algo"] = "sac"

    with pytest.raises(ValueError, match="holds no obs_rms statistics"):
        agent_from_state({k: v for k, v in arrays.items() if not k.startswith("obs_rms")}, meta, "f.npz")
    with pytest.raises(ValueError, match="holds obs_rms statistics but the config turns that normalization off"):
        agent_from_state({**off_arrays, "obs_rms/mean": arrays["obs_rms/mean"]}, off_meta, "f.npz")
    with pytest.raises(ValueError, match="variance") as info:
        agent_from_state({**arrays, "obs_rms/var": -np.ones(3)}, meta, "f.npz")
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="normalization off"):
        off.load_state_dict({**off_arrays, "obs_rms/mean": arrays["obs_rms/mean"]}, off_meta)


def test_a_normalized_run_keeps_its_statistics_through_resume_and_in_its_files(tmp_path):
    """FrozenLake (a Discrete observation, one-hot) with DQN, through the training loop: the
    statistics count every explored observation, resume exactly and ship in policy.npz."""
    config = {**TINY, "learning_starts": 20, "train_freq": 2, "target_update_interval": 20,
              "normalize_observations": True, "normalize_rewards": True}
    env = gym.make("FrozenLake-v1")

    def run(stop_at=None, resume=False):
        folder = tmp_path / ("a" if stop_at is None and not resume else "b")
        if resume:
            trainer = OffPolicyTrainer.resume(folder, progress=False)
        else:
            a = ALGORITHMS["dqn"](env.observation_space, env.action_space, config, seed=4)
            trainer = OffPolicyTrainer(a, "FrozenLake-v1", RunSettings(200, seed=4, run_dir=folder, progress=False,
                                                                       lanes=1, blas_threads=1))
        trainer.run(stop_at=stop_at)
        return trainer.agent

    whole = run()
    assert whole.normalization.obs.count == 200
    counts = whole.normalization.obs.mean * 200               # how often each of the 16 cells was seen
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert counts.sum() == pytest.approx(200)
    run(stop_at=90)
    resumed = run(resume=True)
    for key, value in whole.state_dict()[0].items():
        np.testing.assert_array_equal(resumed.state_dict()[0][key], value, err_msg=key)
    policy, _ = load_agent(tmp_path / "a" / "policy.npz")
    np.testing.assert_array_equal(policy.normalization.obs.mean, whole.normalization.obs.mean)
    obs = np.arange(16)
    np.testing.assert_array_equal(policy.predict(obs), whole.predict(obs))
