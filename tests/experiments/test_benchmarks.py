"""The benchmark helpers; those that need PyTorch or Stable-Baselines3 are skipped without them."""

from __future__ import annotations

import importlib.util

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


# -- PPO and A2C ----------------------------------------------------------------------------------
HAS_SB3 = importlib.util.find_spec("stable_baselines3") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_sb3 = pytest.mark.skipif(not HAS_SB3, reason="needs the 'bench' extra (Stable-Baselines3)")


def test_on_policy_runs_are_whole_rollouts_and_count_minibatch_steps():
    from experiments.benchmarks import tasks
    # CartPole: 8 envs x 32 steps = 256 transitions a rollout, one minibatch of 256, 20 epochs;
    # SB3 finishes the rollout it is in, so both libraries run 391 rollouts for "100k".
    assert tasks.budget("ppo-cartpole", 100_000) == 391 * 256 and tasks.budget("dqn-cartpole", 50_000) == 50_000
    assert tasks.budget("ppo-lunarlander", 1_000_000) == 62 * 16 * 1024
    assert tasks.first_update_step("ppo-cartpole") == 256 and tasks.first_update_step("sac-pendulum") == 100
    cartpole = tasks.agent_config("ppo", compare_sb3.zoo_hyperparameters("ppo-cartpole"))
    lunar = tasks.agent_config("ppo", compare_sb3.zoo_hyperparameters("ppo-lunarlander"))
    assert tasks.on_policy_updates(cartpole, 391 * 256) == 391 * 20
    assert tasks.on_policy_updates(lunar, 62 * 16384) == 62 * 4 * 16384 // 64
    assert tasks.minibatch_rows(tasks.agent_config("a2c", compare_sb3.zoo_hyperparameters("a2c-cartpole"))) == 40
    assert compare_sb3.calibration_budget("ppo-lunarlander", 3000) == 4 * 16384      # at least 4 rollouts
    assert compare_sb3.calibration_budget("ppo-cartpole", 3000) == 12 * 256
    # one process, no lanes: the settings are thread counts, the default one BLAS thread
    assert compare_sb3.settings_for("rlnn", "ppo-cartpole", ["1", "2"]) == ["1", "2"]
    assert compare_sb3.resolve_default("rlnn", "ppo-lunarlander") == "1"
    assert compare_sb3.calibrate("ppo-cartpole", "rlnn", ["1"], 1024) == ("1", {})   # nothing to choose from


def test_on_policy_flops_are_actor_and_critic_forward_and_backward():
    from experiments.benchmarks import tasks
    hp = compare_sb3.zoo_hyperparameters("ppo-cartpole")
    forward = 2 * 256 * (4 * 64 + 64 * 64 + 64 * 2) + 2 * 256 * (4 * 64 + 64 * 64 + 64)
    input_grads = 2 * 256 * (64 * 64 + 64 * 2) + 2 * 256 * (64 * 64 + 64)    # no dL/ds
    assert compare_sb3.flops_per_update("ppo-cartpole", 4, 2, hp) == 2 * forward + input_grads
    shared = tasks.agent_config("ppo", {**hp, "share_net": True})
    trunk, heads = 2 * 256 * (4 * 64 + 64 * 64), 2 * 256 * (64 * 2 + 64)
    assert tasks.on_policy_flops(shared, 4, 2) == 2 * trunk + 2 * 256 * 64 * 64 + 3 * heads


@pytest.mark.parametrize("share_net", [False, True])
def test_the_ppo_bound_times_exactly_the_products_the_floor_counts(share_net):
    from experiments.benchmarks import lower_bounds, tasks
    c = tasks.agent_config("ppo", {**compare_sb3.zoo_hyperparameters("ppo-lunarlander"), "share_net": share_net})
    passes = lower_bounds.on_policy_passes(64, 8, 4, c.net_arch, share_net)
    flops = sum(2 * m * k * n for p in passes for m, k, n, _ in lower_bounds._mlp_products(*p))
    assert flops == tasks.on_policy_flops(c, 8, 4)


def test_the_elementwise_passes_follow_the_activation():
    from experiments.benchmarks import lower_bounds
    ops = lower_bounds._mlp_elementwise(5, [4, 8, 1], forward=True, weight_grads=False, input_grads=1, activation="tanh")
    assert sorted(ops) == sorted([("bias", 5, 8), ("bias", 5, 1), ("tanh", 5, 8), ("tanh_grad", 5, 8)])
    assert lower_bounds.elementwise_us(ops, calls=5) > 0
    with pytest.raises(ValueError, match="not 'sigmoid'"):
        lower_bounds._mlp_elementwise(5, [4, 8, 1], activation="sigmoid")


def test_the_ppo_floor_report_has_its_fields(monkeypatch):
    from experiments.benchmarks import lower_bounds
    monkeypatch.setattr(lower_bounds, "peak_gflops", lambda threads: 100.0 * threads)    # measured elsewhere
    f = lower_bounds.on_policy_bound("ppo-cartpole", calls=5, env_steps=800)
    assert (f["n_envs"], f["batch_rows"], f["parameters"], f["run_steps"], f["run_updates"]) == (8, 256, 9155, 100_096,
                                                                                                 7820)
    assert f["peak_gflops"] == 100.0 and f["floor_us"] == pytest.approx(f["flops_per_update"] / 1e5)   # 1 thread
    assert f["run_floor_s"] == pytest.approx(f["run_updates"] * f["floor_us"] * 1e-6)
    assert f["update_bound_us"] == pytest.approx(f["products_us"] + f["elementwise_us"] + f["adam_us"])
    assert f["run_in_sequence_s"] == pytest.approx(f["run_updates"] * f["update_in_sequence_us"] * 1e-6)
    assert f["env_us"] > 0 and f["env_s"] == pytest.approx(f["run_steps"] * f["env_us"] * 1e-6)
    assert f["least_s"] == pytest.approx(f["env_s"] + f["run_floor_s"])
    text = lower_bounds.on_policy_report(f, wall_s=2 * f["least_s"], sb3_s=6 * f["least_s"])
    assert "2.00x env + update floor" in text and "at most 6.00x faster" in text and "8 env(s), sync" in text


@needs_sb3
def test_sb3_takes_the_shipped_ppo_and_a2c_configs():
    from experiments.benchmarks.sb3_mapping import sb3_arguments
    kwargs, unused = sb3_arguments("ppo", compare_sb3.zoo_hyperparameters("ppo-cartpole"), 0)
    lr, clip = kwargs.pop("learning_rate"), kwargs.pop("clip_range")
    assert kwargs == {"n_steps": 32, "batch_size": 256, "n_epochs": 20, "gamma": 0.98, "gae_lambda": 0.8,
                      "ent_coef": 0.0} and unused == []
    assert (lr(1.0), lr(0.25), clip(1.0), clip(0.25)) == pytest.approx((1e-3, 2.5e-4, 0.2, 0.05))  # x progress left
    kwargs, unused = sb3_arguments("ppo", compare_sb3.zoo_hyperparameters("ppo-lunarlander"), 0)
    assert kwargs == {"n_steps": 1024, "batch_size": 64, "gae_lambda": 0.98, "gamma": 0.999, "n_epochs": 4,
                      "ent_coef": 0.01} and unused == []
    from experiments.configs import tuned_config
    kwargs, unused = sb3_arguments("ppo", tuned_config("ppo", "Hopper-v5")["hyperparameters"], 3)
    policy = kwargs.pop("policy_kwargs")
    assert policy == {"log_std_init": -2.0, "ortho_init": False, "net_arch": [256, 256],
                      "activation_fn": __import__("torch").nn.ReLU} and unused == []
    assert kwargs["max_grad_norm"] == 0.7 and kwargs["vf_coef"] == 0.835671 and kwargs["clip_range"] == 0.2
    kwargs, unused = sb3_arguments("a2c", {**compare_sb3.zoo_hyperparameters("a2c-cartpole"), "n_epochs": 3}, 0)
    assert kwargs == {"ent_coef": 0.0} and unused == ["n_epochs"]     # SB3's A2C makes one step per rollout
    # rlnn's "off" values are SB3's no-ops; the whole rollout is its size
    kwargs, _ = sb3_arguments("ppo", {"clip_range": None, "max_grad_norm": 0.0, "batch_size": None, "n_steps": 16,
                                      "n_envs": 4, "optimizer": "rmsprop"}, 0)
    assert kwargs["clip_range"] == kwargs["max_grad_norm"] == float("inf") and kwargs["batch_size"] == 64
    assert kwargs["policy_kwargs"]["optimizer_class"].__name__ == "RMSprop"


@needs_sb3
@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_sb3_defaults_are_rlnns_where_a_key_is_not_given(algo):
    """sb3_arguments maps only the keys given: SB3's defaults must then be rlnn's."""
    import inspect

    import stable_baselines3 as sb3
    from stable_baselines3.common.policies import ActorCriticPolicy

    from experiments.benchmarks.sb3_mapping import SB3_CLASSES, SB3_SAME_NAME, rlnn_setting
    sb3_defaults = {**{k: p.default for k, p in inspect.signature(ActorCriticPolicy).parameters.items()},
                    **{k: p.default for k, p in inspect.signature(getattr(sb3, SB3_CLASSES[algo])).parameters.items()}}
    keys = [*SB3_SAME_NAME["on"], *SB3_SAME_NAME.get(algo, ()), "max_grad_norm", "ortho_init", "log_std_init",
            *(("clip_range", "batch_size") if algo == "ppo" else ())]
    assert {k: sb3_defaults[k] for k in keys} == {k: rlnn_setting(algo, {}, k) for k in keys}
    assert sb3_defaults["activation_fn"].__name__ == "Tanh" and rlnn_setting(algo, {}, "activation") == "tanh"
    assert sb3_defaults["net_arch"] is None and rlnn_setting(algo, {}, "net_arch") == [64, 64]   # SB3: 64-64 for both
    assert (sb3_defaults.get("use_rms_prop", False), sb3_defaults.get("rms_prop_eps", 1e-5)) == (
        rlnn_setting(algo, {}, "optimizer") == "rmsprop", rlnn_setting(algo, {}, "optimizer_eps"))


@needs_sb3
@pytest.mark.parametrize("env_id, extra", [("CartPole-v1", {}), ("CartPole-v1", {"share_net": True}),
                                           ("Pendulum-v1", {"share_net": True, "activation": "relu", "net_arch": [32]}),
                                           ("Pendulum-v1", {"net_arch": [16, 8], "log_std_init": -1.0})])
def test_sb3_builds_rlnns_networks(env_id, extra):
    import gymnasium as gym

    import agents
    from experiments.benchmarks.sb3_mapping import sb3_setup
    env = gym.make(env_id)
    hp = {"n_envs": 2, **extra}
    model, unused = sb3_setup("ppo", lambda: gym.make(env_id), hp, seed=0)
    agent = agents.PPO(env.observation_space, env.action_space, hp)
    assert unused == [] and model.n_envs == 2 and type(model.get_env()).__name__ == "DummyVecEnv"
    # the same layers (torch stores a weight transposed): the same sizes, parameter for parameter
    assert sorted(p.numel() for p in model.policy.parameters()) == sorted(p.value.size for p in agent.optimizer.params)
    if "log_std_init" in extra:
        assert model.policy.log_std.detach().tolist() == [-1.0]


@needs_sb3
def test_sb3_normalizes_as_rlnn_and_evaluates_on_normalized_observations():
    import gymnasium as gym
    import numpy as np

    from experiments.benchmarks.sb3_mapping import sb3_policy, sb3_setup
    hp = {"normalize_observations": True, "normalize_rewards": True, "normalize_clip": 5.0, "gamma": 0.9}
    model, unused = sb3_setup("ppo", lambda: gym.make("Pendulum-v1"), hp, seed=0)
    venv = model.get_env()
    assert unused == [] and type(venv).__name__ == "VecNormalize"
    assert (venv.norm_obs, venv.norm_reward, venv.clip_obs, venv.clip_reward, venv.gamma, venv.epsilon) == (
        True, True, 5.0, 5.0, 0.9, 1e-8)
    venv.obs_rms.mean[:] = [1.0, 0.0, 0.0]
    obs = np.array([0.5, -0.2, 3.0], np.float32)
    expected = model.predict(venv.normalize_obs(obs), deterministic=True)[0]
    np.testing.assert_array_equal(sb3_policy(model)(obs), expected)
    assert not np.array_equal(model.predict(obs, deterministic=True)[0], expected)
    _, unused = sb3_setup("sac", lambda: gym.make("Pendulum-v1"), hp, seed=0)     # not SB3's VecNormalize off-policy
    assert unused == ["normalize_clip", "normalize_observations", "normalize_rewards"]


@needs_sb3
def test_a_tiny_ppo_comparison_does_the_same_work_in_both_libraries():
    rows = [compare_sb3.one_run("rlnn", "ppo-cartpole", 0, "1", 2000, warm=0.25, evaluate_policy=False),
            compare_sb3.spawn("sb3", "ppo-cartpole", 0, "1", 2000, warm=0.25, evaluate_policy=False)]
    for row in rows:      # 2000 steps are 8 whole rollouts of 256: 8 x 20 minibatch steps
        assert (row["steps"], row["updates"], row["steady_updates"]) == (2048, 160, 120)
        assert 0 < row["steady_s"] < row["wall_s"] and row["steps_per_s"] == pytest.approx(2048 / row["wall_s"])
    assert rows[0]["flops_per_update"] == rows[1]["flops_per_update"] == 13_402_112
    assert rows[0]["resolved"].endswith("1 BLAS thread(s)") and rows[1]["resolved"] == "1 torch thread(s)"
    for row in rows:
        row.update(roles=["default", "best"], eval_mean_return=9.0, eval_std_return=0.0)
    table = compare_sb3.markdown(rows, {1: 100.0, 2: 100.0})
    ratio = rows[1]["wall_s"] / rows[0]["wall_s"]
    assert f"| ppo-cartpole | {rows[0]['wall_s']:.1f} | {rows[0]['wall_s']:.1f} (1) |" in table
    assert f"| {ratio:.2f}x | {ratio:.2f}x |" in table


@pytest.mark.skipif(not HAS_TORCH, reason="needs PyTorch")
def test_the_cleanrl_style_ppo_runs_rlnns_cartpole_config():
    import dataclasses

    from experiments.benchmarks import cleanrl_ppo
    from experiments.benchmarks.sb3_mapping import rlnn_setting
    hp, args = compare_sb3.zoo_hyperparameters("ppo-cartpole"), cleanrl_ppo.Args()
    same = {"num_envs": "n_envs", "num_steps": "n_steps", "batch_size": "batch_size", "update_epochs": "n_epochs",
            "learning_rate": "learning_rate", "gamma": "gamma", "gae_lambda": "gae_lambda", "clip_coef": "clip_range",
            "ent_coef": "ent_coef", "vf_coef": "vf_coef", "max_grad_norm": "max_grad_norm"}
    assert {k: getattr(args, k) for k in same} == {k: rlnn_setting("ppo", hp, v) for k, v in same.items()}
    assert hp["learning_rate_schedule"] == hp["clip_range_schedule"] == "linear"     # as the script anneals both
    assert [args.net_width] * 2 == rlnn_setting("ppo", hp, "net_arch") and args.total_timesteps == 100_000
    result = cleanrl_ppo.train(dataclasses.replace(args, total_timesteps=500, eval_episodes=0))
    assert (result["steps"], result["updates"]) == (512, 2 * 20) and result["train_s"] > 0     # whole rollouts
