"""Colored exploration noise (agents.noise): its spectrum and variance, seeding, rows and action
dimensions, chunk resets, exact resume, the SAC/TD3 hooks, and the default left as it was."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlnn
from agents import SAC, TD3, OffPolicyTrainer, RunSettings, load_agent, save_agent
from agents.checkpoint import export_policy
from agents.config import config_from_dict
from agents.noise import ColoredNoise, colored_chunks
from agents.sac import SACConfig
from agents.td3 import DDPGConfig, TD3Config

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
PINK = {"net_arch": [16, 16], "learning_starts": 0, "noise_type": "pink", "noise_seq_len": 50}
ROWS = np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)       # 3 sub-envs' observations


def sequence(noise: ColoredNoise, rows: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """``steps`` consecutive samples, ``(steps, rows, act_dim)``."""
    return np.stack([noise.sample(rows, rng) for _ in range(steps)])


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
def test_the_spectrum_falls_as_one_over_f_to_the_beta(beta):
    noise = ColoredNoise(beta, act_dim=2, seq_len=2048, dtype=np.float64)
    x = sequence(noise, 8, 2048, np.random.default_rng(0))              # one whole chunk per series
    periodogram = (np.abs(np.fft.rfft(x, axis=0)) ** 2).mean(axis=(1, 2))
    k = np.arange(1, len(periodogram))
    slope = np.polyfit(np.log(k), np.log(periodogram[1:]), 1)[0]
    assert abs(slope + beta) < 0.2, slope


@pytest.mark.parametrize("beta, length", [(1.0, 999), (1.0, 1000), (2.0, 64), (0.0, 7)])
def test_every_step_has_unit_variance_and_zero_mean(beta, length):
    x = colored_chunks(beta, (4000,), length, np.random.default_rng(1))
    assert x.shape == (4000, length)
    per_step = x.var(axis=0)
    assert abs(x.var() - 1) < 0.03 and abs(x.mean()) < 0.05
    assert abs(per_step[0] - 1) < 0.12 and abs(per_step[-1] - 1) < 0.12 and abs(per_step.mean() - 1) < 0.03


def test_reproducible_from_a_seed_and_different_per_row_and_action_dimension():
    draw = lambda seed: sequence(ColoredNoise(1.0, 2, 100), 3, 100, np.random.default_rng(seed))  # noqa: E731
    a, b, c = draw(0), draw(0), draw(1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    series = a.reshape(100, 6).T                                   # (row, dim) pairs
    assert len({s.tobytes() for s in series}) == 6
    assert a.dtype == np.float32


def test_a_chunk_runs_out_into_a_fresh_one_and_an_episode_end_restarts_its_row_only():
    rng = np.random.default_rng(2)
    noise = ColoredNoise(1.0, 2, seq_len=10)
    first = sequence(noise, 3, 10, rng)
    np.testing.assert_array_equal(first, np.moveaxis(noise.chunks, 2, 0))   # the steps walk the chunk
    sequence(noise, 3, 4, rng)
    assert (noise.steps == 4).all()                                # the 11th step began a new chunk
    ended, going = noise, copy.deepcopy(noise)
    ended.reset(1)
    a, b = ended.sample(3, copy.deepcopy(rng)), going.sample(3, copy.deepcopy(rng))
    np.testing.assert_array_equal(a[[0, 2]], b[[0, 2]])           # the others continue their chunks
    assert not np.array_equal(a[1], b[1]) and ended.steps.tolist() == [5, 1, 5]
    noise.sample(1, rng)                                           # another number of rows: all afresh
    assert noise.chunks.shape == (1, 2, 10) and noise.steps.tolist() == [1]


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_the_agent_explores_with_the_colored_sequence(cls):
    agent = cls(OBS, ACT, {**PINK, "noise_type": "colored", "noise_beta": 2.0}, seed=4)
    reference, rng = ColoredNoise(2.0, 2, 50), copy.deepcopy(agent.rng)
    for _ in range(3):
        eps = reference.sample(3, rng)
        if cls is SAC:       # the ε of a = tanh(μ + σ ε)
            expected = agent.scaler.to_env(agent.policy(agent.encode(ROWS), eps).action)
        else:                # μ(s) + action_noise · ε
            expected = agent.scaler.to_env(agent.actor.predict(ROWS) + agent.config.action_noise * eps)
        expected = np.clip(expected, agent.scaler.low, agent.scaler.high)
        np.testing.assert_allclose(agent.explore(ROWS, 0), expected, rtol=1e-6, atol=1e-6)
    # predict's stochastic sample stays white and leaves the collection noise where it was
    steps = agent.exploration_noise.steps.copy()
    agent.predict(ROWS, deterministic=False)
    np.testing.assert_array_equal(agent.exploration_noise.steps, steps)


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_on_episode_end_gives_that_sub_env_a_fresh_chunk(cls):
    agent = cls(OBS, ACT, PINK, seed=5)
    for _ in range(7):
        agent.explore(ROWS, 0)
    twin = copy.deepcopy(agent)
    agent.on_episode_end(2)
    a, b = agent.explore(ROWS, 0), twin.explore(ROWS, 0)
    np.testing.assert_array_equal(a[:2], b[:2])
    assert not np.array_equal(a[2], b[2]) and agent.exploration_noise.steps.tolist() == [8, 8, 1]
    cls(OBS, ACT, {"net_arch": [16, 16]}).on_episode_end(0)        # white noise: nothing to reset


# The default's explorations, as the code before colored noise drew them (seed 3, the rows of
# np.linspace(-1, 1, 6).reshape(2, 3), three steps): existing same-seed runs stay bit-identical.
BEFORE = {
    SAC: [-1.9087764024734497, 0.004084527492523193, -1.97087562084198, 0.8477140665054321, -1.9989233016967773,
          0.0022834837436676025, -1.9902056455612183, 0.9193893671035767, -1.6842249631881714, 0.8324828743934631,
          -1.9707106351852417, 0.7382266521453857],
    TD3: [-1.6318001747131348, 1.0, -1.5217108726501465, 0.90615314245224, -1.910224437713623, 1.0,
          -1.9828777313232422, 0.921606183052063, -1.7781026363372803, 0.9879745244979858, -2.0, 0.9314829707145691],
}


@pytest.mark.parametrize("cls", [SAC, TD3])
@pytest.mark.parametrize("config", [{}, {"noise_type": "normal"}])
def test_the_default_draws_exactly_what_it_drew_before(cls, config):
    obs = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    agent = cls(OBS, ACT, {"net_arch": [16, 16], "learning_starts": 0, **config}, seed=3)
    assert agent.exploration_noise is None
    drawn = np.stack([agent.explore(obs, 10) for _ in range(3)])
    np.testing.assert_array_equal(drawn.ravel(), np.array(BEFORE[cls], dtype=np.float32))
    white = cls(OBS, ACT, {"net_arch": [16, 16], "learning_starts": 0}, seed=3)
    np.testing.assert_array_equal(drawn, np.stack([white.predict(obs, deterministic=False) for _ in range(3)]))
    assert agent.rng.bit_generator.state == white.rng.bit_generator.state
    assert not any(key.startswith("noise") for key in agent.state_dict()[0])


def test_save_and_load_mid_chunk_continue_exactly(tmp_path):
    agent = SAC(OBS, ACT, PINK, seed=6)
    assert "noise_chunks" not in agent.state_dict()[0]              # nothing drawn yet
    for _ in range(13):
        agent.explore(ROWS, 0)
    loaded, _ = load_agent(save_agent(agent, tmp_path / "sac.npz"))
    assert loaded.exploration_noise.steps.tolist() == [13, 13, 13]
    for _ in range(60):                                            # past the end of the chunk too
        np.testing.assert_array_equal(agent.explore(ROWS, 0), loaded.explore(ROWS, 0))
    policy, _ = load_agent(export_policy(agent, tmp_path / "policy.npz"))   # acting needs no noise state
    assert not any(key.startswith("noise") for key in rlnn.load_arrays(tmp_path / "policy.npz")[0])
    np.testing.assert_array_equal(policy.act(ROWS), agent.act(ROWS))


@pytest.mark.parametrize("damage, message", [
    (lambda a: a.pop("noise_steps"), "lacks 'noise_steps'"),
    (lambda a: a.update(noise_chunks=a["noise_chunks"][:, :1]), "noise_chunks is float32 of shape (3, 1, 50)"),
    (lambda a: a.update(noise_steps=a["noise_steps"] + 100), "noise_steps must hold 3 whole numbers in [0, 50]"),
])
def test_a_damaged_noise_state_is_a_one_line_error(tmp_path, damage, message):
    agent = TD3(OBS, ACT, PINK, seed=7)
    agent.explore(ROWS, 0)
    arrays, meta = rlnn.load_arrays(save_agent(agent, tmp_path / "td3.npz"))
    damage(arrays)
    rlnn.save_arrays(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(ValueError, match="colored noise") as info:
        load_agent(tmp_path / "bad.npz")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_interrupted_pink_run_on_two_envs_resumes_exactly(tmp_path):
    env = gym.make("Pendulum-v1")
    config = {"net_arch": [16], "learning_starts": 40, "batch_size": 16, "n_envs": 2, "noise_type": "pink",
              "noise_seq_len": 64}

    def run(name: str, stop_at: int | None = None) -> OffPolicyTrainer:
        agent = SAC(env.observation_space, env.action_space, config, seed=8)
        trainer = OffPolicyTrainer(agent, "Pendulum-v1", RunSettings(300, seed=8, progress=False,
                                                                     run_dir=tmp_path / name, lanes=1))
        trainer.run(stop_at=stop_at)
        return trainer

    full = run("full")
    run("split", stop_at=150).save_checkpoints(periodic=False)     # mid-chunk: 55 vector steps into it
    resumed = OffPolicyTrainer.resume(tmp_path / "split", progress=False)
    assert resumed.step == 150 and resumed.agent.exploration_noise.steps.tolist() == [55, 55]
    resumed.run()
    expected, got = full.agent.state_dict()[0], resumed.agent.state_dict()[0]
    assert expected.keys() == got.keys() and "noise_chunks" in expected
    for key in expected:
        np.testing.assert_array_equal(expected[key], got[key], err_msg=key)


@pytest.mark.parametrize("cls", [SACConfig, TD3Config, DDPGConfig])
@pytest.mark.parametrize("values, message", [
    ({"noise_type": "brown"}, "'noise_type' must be one of ['normal', 'pink', 'colored'], got 'brown'"),
    ({"noise_type": "colored"}, "'noise_beta' is needed with noise_type 'colored'"),
    ({"noise_type": "colored", "noise_beta": -1}, "'noise_beta' must be a number >= 0"),
    ({"noise_type": "colored", "noise_beta": "nan"}, "'noise_beta' must be a number >= 0"),
    ({"noise_type": "pink", "noise_beta": 2}, "'noise_beta' applies to noise_type 'colored' only, not 'pink'"),
    ({"noise_beta": 1}, "'noise_beta' applies to noise_type 'colored' only, not 'normal'"),
    ({"noise_type": "pink", "noise_seq_len": 1}, "'noise_seq_len' must be at least 2"),
    ({"noise_seq_len": 2.5}, "'noise_seq_len' expects int"),
])
def test_bad_noise_settings_are_one_line_errors(cls, values, message):
    with pytest.raises(ValueError) as info:
        config_from_dict(cls, values)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_noise_settings_from_text_as_set_gives_them():
    config = config_from_dict(TD3Config, {"noise_type": "colored", "noise_beta": "1.5", "noise_seq_len": "1_000"})
    assert (config.noise_type, config.noise_beta, config.noise_seq_len) == ("colored", 1.5, 1000)
    assert TD3(OBS, ACT, {**PINK, "noise_type": "colored", "noise_beta": 1.5}).exploration_noise.beta == 1.5
    assert SAC(OBS, ACT, PINK).exploration_noise.beta == 1.0
