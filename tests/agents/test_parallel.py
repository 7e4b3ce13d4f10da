"""Data parallelism as the update's collaborator: a row split over processes gives the serial
update up to float rounding, is reproducible, reports a worker's failure, and "auto" picks the
number of processes from the update's size alone."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import numpy as np
import pytest

from agents import DQN, SAC, TD3, OffPolicyTrainer
from agents.forked import LaneBroken, fork_available
from agents.loop import RunSettings
from agents.parallel import SERIAL, RowSplit, choose_lanes
from agents.replay import Batch

needs_fork = pytest.mark.skipif(not fork_available(), reason="needs os.fork")
PENDULUM = gym.make("Pendulum-v1")
CARTPOLE = gym.make("CartPole-v1")


def pendulum_batch(rng: np.random.Generator, size: int) -> Batch:
    return Batch(rng.standard_normal((size, 3)).astype(np.float32), rng.uniform(-2, 2, (size, 1)).astype(np.float32),
                 rng.standard_normal(size).astype(np.float32), rng.standard_normal((size, 3)).astype(np.float32),
                 (rng.random(size) < 0.1).astype(np.float32), np.full(size, 0.98, np.float32))


def cartpole_batch(rng: np.random.Generator, size: int) -> Batch:
    return Batch(rng.standard_normal((size, 4)).astype(np.float32), rng.integers(0, 2, size),
                 rng.standard_normal(size).astype(np.float32), rng.standard_normal((size, 4)).astype(np.float32),
                 (rng.random(size) < 0.1).astype(np.float32), np.full(size, 0.99, np.float32))


def assert_close_states(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:   # only float rounding in the sums of the processes' gradients
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)


@needs_fork
@pytest.mark.parametrize(("cls", "env", "make_batch", "config"), [
    (SAC, PENDULUM, pendulum_batch, {}),
    (TD3, PENDULUM, pendulum_batch, {}),
    (DQN, CARTPOLE, cartpole_batch, {"max_grad_norm": 0.5, "dueling": True}),   # clipping by the global norm
])
@pytest.mark.parametrize("processes", [2, 3])
def test_a_row_split_gives_the_serial_update_up_to_rounding(cls, env, make_batch, config, processes):
    config = {"net_arch": [32, 32], "batch_size": 30, "gradient_steps": 3, **config}
    serial, split = (cls(env.observation_space, env.action_space, config, seed=4) for _ in range(2))
    reducer = RowSplit(processes)
    rng = np.random.default_rng(0)
    try:
        for _ in range(10):   # 30 updates: 15 actor updates for TD3 (policy_delay 2)
            batches = [make_batch(rng, 30) for _ in range(3)]
            one, many = SERIAL.run_round(serial, batches), reducer.run_round(split, batches)
            for a, b in zip(one, many):
                assert a.keys() == b.keys()
                np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-5, atol=1e-6)
        assert all(reducer._group.pids)   # the rows really were split over worker processes
    finally:
        reducer.close()
    assert serial.n_updates == split.n_updates == 30
    assert_close_states(serial.state_dict()[0], split.state_dict()[0])


@needs_fork
@pytest.mark.parametrize("cls", [SAC, TD3, DQN])
def test_a_run_with_two_lanes_is_reproducible_and_records_its_lanes(cls, tmp_path):
    # Through the trainer, rounding differences reach the actions and so the data: one lane and
    # two give different runs (of the same quality), but each is the same run after run.
    env_id = "CartPole-v1" if cls is DQN else "Pendulum-v1"
    env = gym.make(env_id)

    def run(name: str) -> dict[str, np.ndarray]:
        agent = cls(env.observation_space, env.action_space, {"net_arch": [32, 32], "learning_starts": 100,
                                                              "batch_size": 32}, seed=4)
        trainer = OffPolicyTrainer(agent, env_id, RunSettings(300, seed=4, progress=False, lanes=2,
                                                              run_dir=tmp_path / name))
        trainer.run()
        assert trainer.reducer._group is None   # the run stops its workers
        assert json.loads((tmp_path / name / "run.json").read_text())["lanes"] == 2
        return agent.state_dict()[0]

    first, again = run("a"), run("b")
    for key in first:
        np.testing.assert_array_equal(first[key], again[key], err_msg=key)


@needs_fork
def test_a_failure_in_a_worker_process_is_reported_and_a_fresh_worker_takes_over():
    agent = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, {"net_arch": [16], "batch_size": 8,
                                                                    "gradient_steps": 3}, seed=0)
    reducer = RowSplit(2)
    rng = np.random.default_rng(0)
    metrics = reducer.run_round(agent, [cartpole_batch(rng, 8), cartpole_batch(rng, 8)])
    assert len(metrics) == 2 and agent.n_updates == 2
    assert reducer._group.pids[0] not in (0, os.getpid())
    bad = cartpole_batch(rng, 8)
    bad.actions[-1] = 5          # a row of the worker's part: it fails there, the error comes back here
    with pytest.raises(LaneBroken, match="IndexError"):
        reducer.run_round(agent, [cartpole_batch(rng, 8), bad])
    reducer.close()
    reducer.run_round(agent, [cartpole_batch(rng, 8)] * 2)   # the next round forks a fresh worker
    reducer.close()
    with pytest.raises(ValueError, match="up to 3 batches of 8 rows"):
        RowSplit(2).run_round(agent, [cartpole_batch(rng, 8)] * 4)


def test_auto_lanes_follow_the_update_size_and_the_cores():
    big = SAC(PENDULUM.observation_space, PENDULUM.action_space)                  # 256-256, batch 256
    small = DQN(CARTPOLE.observation_space, CARTPOLE.action_space)                # 64-64, batch 32
    zoo_cartpole = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, {"net_arch": [256, 256], "batch_size": 64})
    assert choose_lanes(big, cores=2) == (2 if fork_available() else 1)
    assert choose_lanes(zoo_cartpole, cores=2) == (2 if fork_available() else 1)
    assert choose_lanes(small, cores=2) == 1
    assert choose_lanes(big, cores=1) == 1


def test_auto_blas_threads_hold_one_thread_per_process_for_the_whole_run():
    """BLAS results are not bit-identical across thread counts for our shapes (measured: after
    5 SAC updates, 7 of 768 weights of the actor's first layer differ by one ulp between 1 and 2
    threads), so a thread count that adapted mid-run would make a seed's run depend on the load.
    "auto" therefore means one thread per process, fixed; the lanes use the cores."""
    from threadpoolctl import threadpool_info

    seen = []
    agent = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, {"learning_starts": 50})
    trainer = OffPolicyTrainer(agent, "CartPole-v1", RunSettings(200, eval_freq=100, eval_episodes=1, progress=False),
                               on_eval=lambda t, r: seen.extend(i["num_threads"] for i in threadpool_info()
                                                                if i["user_api"] == "blas"))
    trainer.run()
    assert trainer.blas_threads == 1 and seen and set(seen) == {1}
