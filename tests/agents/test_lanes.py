"""Lanes: per-critic work on two threads gives exactly the serial result, DQN's row split over
two processes the serial result up to rounding; the loop and the CLI reject lanes for agents
without them."""

from __future__ import annotations

import os
import threading

import gymnasium as gym
import numpy as np
import pytest

from agents import OffPolicyTrainer
from agents.dqn import DQN
from agents.forked import LaneBroken, fork_available
from agents.lanes import Lanes
from agents.replay import Batch
from agents.sac import SAC
from agents.td3 import TD3


def test_map_keeps_order_uses_threads_and_reraises():
    lanes = Lanes(2)
    names = lanes.map(lambda i: (i, threading.current_thread().name), [0, 1, 2])
    assert [i for i, _ in names] == [0, 1, 2]
    assert any("rlnn-lane" in name for _, name in names)   # something ran off the caller's thread

    def boom(i):
        if i == 1:
            raise RuntimeError("lane 1 failed")
        return i
    with pytest.raises(RuntimeError, match="lane 1 failed"):
        lanes.map(boom, [0, 1])
    lanes.close()
    with pytest.raises(ValueError, match="at least one"):
        Lanes(0)


def _pendulum_batch(rng: np.random.Generator, size: int) -> Batch:
    return Batch(rng.standard_normal((size, 3)).astype(np.float32), rng.uniform(-2, 2, (size, 1)).astype(np.float32),
                 rng.standard_normal(size).astype(np.float32), rng.standard_normal((size, 3)).astype(np.float32),
                 (rng.random(size) < 0.1).astype(np.float32), np.full(size, 0.98, np.float32))


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_two_lanes_give_the_serial_parameters_up_to_rounding(cls):
    env = gym.make("Pendulum-v1")
    serial, split = (cls(env.observation_space, env.action_space, {"net_arch": [32, 32], "batch_size": 32}, seed=4)
                     for _ in range(2))
    split.lanes.set_workers(2)
    rng = np.random.default_rng(0)
    for _ in range(60):   # 30 actor updates for TD3 (policy_delay 2)
        batch = _pendulum_batch(rng, 32)
        one, two = serial.train_round([batch])[0], split.train_round([batch])[0]
        assert one.keys() == two.keys()
        np.testing.assert_allclose([one[k] for k in one], [two[k] for k in one], rtol=1e-5, atol=1e-6)
    assert split._split is not None or not fork_available()   # the rows really were split over two processes
    split.lanes.close()
    a, b = serial.state_dict()[0], split.state_dict()[0]
    assert a.keys() == b.keys()
    for key in a:   # only float rounding in the sums of the two halves' gradients
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_a_run_with_two_lanes_is_reproducible(cls):
    # Through the trainer, rounding differences reach the actions and so the data: the two
    # settings give different runs (of the same quality), but each is the same run after run.
    env = gym.make("Pendulum-v1")

    def run() -> dict[str, np.ndarray]:
        agent = cls(env.observation_space, env.action_space, {"net_arch": [32, 32], "learning_starts": 100,
                                                              "batch_size": 32}, seed=4)
        OffPolicyTrainer(agent, "Pendulum-v1", 300, seed=4, progress=False, lanes=2).run()
        assert agent.lanes.workers == 2 and agent.lanes._forked is None   # the run closes its worker
        return agent.state_dict()[0]

    first, again = run(), run()
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)


@pytest.mark.parametrize("cls", [SAC, TD3])
def test_per_critic_threads_give_exactly_the_serial_step(cls):
    # Without os.fork, two lanes run each critic's work on its own thread: bit-identical results.
    env = gym.make("Pendulum-v1")
    config = {"net_arch": [32, 32], "batch_size": 16}
    serial, threaded = (cls(env.observation_space, env.action_space, config, seed=1) for _ in range(2))
    threaded.lanes.set_workers(2)
    rng = np.random.default_rng(0)
    for _ in range(4):
        batch = _pendulum_batch(rng, 16)
        assert serial.train_step(batch) == threaded.train_step(batch)
    threaded.lanes.close()
    a, b = serial.state_dict()[0], threaded.state_dict()[0]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_dqn_two_lanes_give_the_serial_parameters():
    env = gym.make("CartPole-v1")
    config = {"net_arch": [32, 32], "learning_starts": 100, "batch_size": 16, "train_freq": 50,
              "gradient_steps": 40, "target_update_interval": 10, "dueling": True}

    def run(lanes: int) -> dict[str, np.ndarray]:
        agent = DQN(env.observation_space, env.action_space, config, seed=2)
        OffPolicyTrainer(agent, "CartPole-v1", 600, seed=2, progress=False, lanes=lanes).run()
        return agent.state_dict()[0]

    serial, parallel = run(1), run(2)
    for key in serial:
        np.testing.assert_allclose(serial[key], parallel[key], rtol=1e-5, atol=1e-6, err_msg=key)
    again = run(2)   # the row split always adds in the same order: reproducible bit for bit
    for key in serial:
        np.testing.assert_array_equal(parallel[key], again[key], err_msg=key)


@pytest.mark.skipif(not fork_available(), reason="needs os.fork")
def test_dqn_row_split_runs_in_a_worker_process_and_reports_its_failures():
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space, {"net_arch": [16], "batch_size": 8, "gradient_steps": 3},
                seed=0)
    agent.lanes.set_workers(2)
    rng = np.random.default_rng(0)

    def batch() -> Batch:
        return Batch(rng.standard_normal((8, 4)).astype(np.float32), rng.integers(0, 2, 8),
                     np.ones(8, np.float32), rng.standard_normal((8, 4)).astype(np.float32),
                     np.zeros(8, np.float32), np.full(8, 0.99, np.float32))

    metrics = agent.train_round([batch(), batch()])
    assert len(metrics) == 2 and agent.n_updates == 2
    worker = agent.lanes._forked
    assert worker is not None and worker.pid not in (0, os.getpid())
    bad = batch()
    bad.actions[-1] = 5          # a row of the worker's half: it fails there, the error comes back here
    with pytest.raises(LaneBroken, match="IndexError"):
        agent.train_round([batch(), bad])
    agent.train_round([batch()] * 2)   # a fresh worker takes over
    agent.lanes.close()
    assert agent.lanes._forked is None


def test_lanes_need_an_agent_that_has_them():
    class NoLanes:
        algo, obs_dim = "none", 4
        action_space = gym.make("CartPole-v1").action_space
        config = type("C", (), {"buffer_size": 10})()
    with pytest.raises(ValueError, match="lanes"):
        OffPolicyTrainer(NoLanes(), "CartPole-v1", 10, progress=False, lanes=2)
    with pytest.raises(ValueError, match="at least 1"):
        OffPolicyTrainer(NoLanes(), "CartPole-v1", 10, progress=False, lanes=0)


def test_checkpoints_with_one_joint_critic_optimizer_still_load():
    """Before each critic had its own Adam, one "critic" optimiser held all their parameters."""
    env = gym.make("Pendulum-v1")
    agent = SAC(env.observation_space, env.action_space, {"net_arch": [8], "learning_starts": 10, "batch_size": 8}, 0)
    OffPolicyTrainer(agent, "Pendulum-v1", 40, progress=False).run()
    arrays, meta = agent.state_dict()
    legacy = {k: v for k, v in arrays.items() if not k.startswith("opt.critic")}
    offset = 0
    for i, opt in enumerate(agent.critics.optimizers):
        for key, value in arrays.items():
            if key.startswith(f"opt.critic{i}/"):
                index, name = key.split("/", 1)[1].split(".", 1)
                legacy[f"opt.critic/{offset + int(index)}.{name}"] = value
        offset += len(opt.params)
    steps = {k: v for k, v in meta["optimizer_steps"].items() if not k.startswith("critic")}
    legacy_meta = {**meta, "optimizer_steps": {**steps, "critic": meta["optimizer_steps"]["critic0"]}}
    loaded = SAC.from_state_dict(legacy, legacy_meta)
    for mine, theirs in zip(agent.critics.optimizers, loaded.critics.optimizers):
        assert mine.t == theirs.t > 0
        for p, q in zip(mine.params, theirs.params):
            for name in mine.state_names:
                np.testing.assert_array_equal(mine.state[p][name], theirs.state[q][name])
