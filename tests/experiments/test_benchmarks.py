"""The benchmark helpers that need neither PyTorch nor Stable-Baselines3."""

from __future__ import annotations

import pytest

from experiments.benchmarks import compare_sb3, profile_run


def test_thread_settings():
    assert [compare_sb3.parse_setting(s) for s in ("default", "1", "2", "2L")] == [("auto", "auto"), (1, 1), (2, 1),
                                                                                    (1, 2)]
    assert [compare_sb3.cores(s) for s in ("1", "2", "2L")] == [1, 2, 2]
    assert compare_sb3.settings_for("rlnn", "sac-pendulum", ["1", "2"]) == ["1", "2", "2L"]
    assert compare_sb3.settings_for("rlnn", "dqn-cartpole", ["1", "2"]) == ["1", "2", "2L"]
    assert compare_sb3.settings_for("sb3", "sac-pendulum", ["1", "2"]) == ["1", "2"]
    assert compare_sb3.settings_for("rlnn", "dqn-cartpole", ["1"]) == ["1"]


def test_flops_per_update_counts_the_big_layers():
    hp = {"batch_size": 256, "net_arch": [256, 256]}
    # SAC on Pendulum: the 256x256 layers dominate; about 0.55 GFLOP per update (issue figure ~0.6).
    assert 0.5e9 < compare_sb3.flops_per_update("sac-pendulum", 3, 1, hp) < 0.6e9
    # DQN: target forward, online forward, backward without the first layer's input gradient.
    dqn = compare_sb3.flops_per_update("dqn-cartpole", 4, 2, {"batch_size": 64, "net_arch": [256, 256]})
    forward = 64 * 2 * (4 * 256 + 256 * 256 + 256 * 2)
    assert dqn == 4 * forward - 64 * 2 * 4 * 256


def test_profile_run_prints_a_table():
    text = profile_run.profile("dqn-cartpole", steps=256, threads=1, lanes=1, top=5)
    assert "updates" in text and "| function |" in text and "_matmul" in text


def test_split_bound_times_every_setting():
    from experiments.benchmarks import split_bound
    for setting in split_bound.SETTINGS:
        assert 0 < split_bound.measure("dqn-cartpole", setting, updates=1) < 1000


def test_calibration_clock_starts_after_the_warm_up_updates():
    """A calibration run reports the time and updates after its first quarter of updates (the
    fork of a lane's worker and first-touch allocations fall before), a full run only its total."""
    assert compare_sb3._steady_from(1000, 3000, 0.25) == 1000 + 500   # learning_starts 1000
    assert compare_sb3._steady_from(1000, 3000, 0.0) > 3000
    run = compare_sb3.run_rlnn("dqn-cartpole", 0, "1", 1000 + 1024, warm=0.5)
    assert run["updates"] == 4 * 128 and run["steady_updates"] == 2 * 128     # rounds at 1024, 1280 | 1536, 1792
    assert 0 < run["steady_s"] < run["wall_s"]
    assert "steady_s" not in compare_sb3.run_rlnn("dqn-cartpole", 0, "1", 1000 + 256)


def test_each_run_has_its_own_floor_from_the_peak_measured_around_it():
    assert compare_sb3.measure_peak(1) > 1.0          # GFLOP/s of a 1024^3 float32 matmul, fresh process
    row = {"task": "td3-pendulum", "seed": 0, "lib": "rlnn", "threads": "2L", "wall_s": 30.0, "steps_per_s": 1.0,
           "updates": 1000, "flops_per_update": 1e9, "eval_mean_return": -150.0, "eval_std_return": 1.0,
           "roles": ["default", "best"]}
    assert compare_sb3.floor_seconds(row, {2: 100.0}) == 10.0                    # the invocation's peak
    row.update(peaks_before_after=[40.0, 50.0], peak_gflops=50.0)
    assert compare_sb3.floor_seconds(row, {2: 100.0}) == 20.0                    # the run's own, the higher
    table = compare_sb3.markdown([row, {**row, "lib": "sb3", "wall_s": 60.0}], {2: 100.0})
    assert "| 40, 50 | 20.0 | 1.50 |" in table
    assert "| td3-pendulum | 30.0 | 30.0 (2L) | 60.0 | 60.0 (2L) | 2.00x | 2.00x | 1.00 | 1.50-1.50 |" in table


def test_the_default_is_resolved_to_the_fixed_setting_it_amounts_to():
    expected = "2L" if __import__("agents.parallel", fromlist=["x"]).available_cores() >= 2 else "1"
    assert compare_sb3.resolve_default("rlnn", "sac-pendulum") == expected


def test_split_bound_measures_in_a_fresh_process():
    from experiments.benchmarks import split_bound
    assert 0 < split_bound.measure_in_subprocess("dqn-cartpole", "1 thread", updates=1) < 1000


def test_a_failing_child_process_is_named_with_its_stderr():
    from experiments.benchmarks.processes import last_line, run_python, thread_env
    assert last_line(run_python(["-c", "print('progress'); print(42)"])) == "42"
    assert thread_env(1)["OPENBLAS_NUM_THREADS"] == "1"
    with pytest.raises(RuntimeError, match="(?s)-c raise SystemExit.*boom"):
        run_python(["-c", "raise SystemExit('boom')"])


def test_blas_kernel_is_named_and_checked():
    kernel = compare_sb3.blas_kernel()
    assert kernel["library"] and kernel["kernel"]
    assert kernel["matmul_rel_error"] < 1e-4


@pytest.mark.parametrize("task", ["sac-pendulum", "td3-pendulum"])
def test_lower_bound_times_exactly_the_products_the_floor_counts(task):
    from experiments.benchmarks import lower_bounds
    hp = compare_sb3.zoo_hyperparameters(task)
    algo = compare_sb3.TASKS[task]["algo"]
    every, actor_step = lower_bounds.actor_critic_products(algo, hp["batch_size"], 3, 1, hp["net_arch"])
    share = 1.0 if algo == "sac" else 1.0 / hp["policy_delay"]
    flops = sum(2 * m * k * n for m, k, n, _ in every) + share * sum(2 * m * k * n for m, k, n, _ in actor_step)
    assert flops == pytest.approx(compare_sb3.flops_per_update(task, 3, 1, hp))


def test_lean_dqn_step_computes_rlnns_gradient():
    """The DQN bound times real work: its gradient is the agent's (Huber TD loss, no Double DQN)."""
    import gymnasium as gym
    import numpy as np

    from agents.dqn import DQN
    from agents.replay import Batch
    from experiments.benchmarks import lower_bounds

    lean = lower_bounds.LeanDQNStep(rows=16)
    lean.adam = lambda: None      # keep the weights: compare gradients only
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space, {"net_arch": [256, 256], "double_q": False}, seed=0)
    for linear, (w, b) in zip(agent.q.linears, [(lean.w1, lean.b1), (lean.w2, lean.b2), (lean.w3, lean.b3)]):
        linear.weight.value, linear.bias.value = w, b + 0.01
    lean.b1 += 0.01
    lean.b2 += 0.01
    lean.b3 += 0.01
    actions = lean.flat_taken % 2
    batch = Batch(lean.x, actions, np.zeros(16, np.float32), lean.x, np.zeros(16, np.float32), np.ones(16, np.float32))
    loss, grad_q, _ = agent.td_loss(batch, lean.y)
    agent.q.backward(grad_q, input_grad=False, accumulate=False)
    assert lean() == pytest.approx(loss, rel=1e-5)
    for linear, (gw, gb) in zip(agent.q.linears, [lean.grads[0:2], lean.grads[2:4], lean.grads[4:6]]):
        np.testing.assert_allclose(linear.weight.grad, gw, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(linear.bias.grad, gb, rtol=1e-5, atol=1e-7)


def test_lower_bound_counts_the_elementwise_work_of_each_pass():
    from experiments.benchmarks import lower_bounds
    # Forward through [4, 8, 8, 1]: three bias adds, two ReLUs. Full backward from the output
    # to the input: three bias gradients, and a mask where the gradient enters each hidden layer.
    ops = lower_bounds._mlp_elementwise(5, [4, 8, 8, 1], forward=True, weight_grads=True, input_grads=3)
    assert sorted(ops) == sorted([("bias", 5, 8), ("bias", 5, 8), ("bias", 5, 1), ("relu", 5, 8), ("relu", 5, 8),
                                  ("bias_grad", 5, 8), ("bias_grad", 5, 8), ("bias_grad", 5, 1),
                                  ("mask", 5, 8), ("mask", 5, 8)])
    assert lower_bounds.elementwise_us(ops, calls=5) > 0
