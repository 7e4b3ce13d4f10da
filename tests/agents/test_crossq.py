"""CrossQ: config, networks, the joint pass, the policy delay, one process, checkpoints and exact
resume, finite-difference gradients of its three losses, the command line, a small Pendulum run."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import rlnn
from agents import ALGORITHMS, OffPolicyTrainer, RunSettings, evaluate, load_agent, save_agent, trainer_class
from agents.actor_critic import td_loss_grad
from agents.checkpoint import export_policy
from agents.crossq import CrossQ, CrossQConfig, CrossQTrainer
from agents.replay import Batch, ReplayBuffer
from rlnn.gradcheck import numerical_gradient, relative_error

OBS = spaces.Box(-1.0, 1.0, (3,), np.float32)
ACT = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
TINY = {"net_arch": [16, 16], "critic_arch": [32, 32], "learning_starts": 50, "batch_size": 16}


def replay(rows: int = 100, seed: int = 0) -> ReplayBuffer:
    buf = ReplayBuffer(rows, 3, (2,), np.float32, rng=seed)
    rng = np.random.default_rng(seed)
    for _ in range(rows):
        buf.add(rng.uniform(-1, 1, 3), rng.uniform(ACT.low, ACT.high), rng.normal(), rng.uniform(-1, 1, 3),
                bool(rng.random() < 0.1), False)
    return buf


def norms(net: rlnn.Module) -> list[rlnn.BatchNorm]:
    return [layer for layer in net.layers if isinstance(layer, rlnn.BatchNorm)]


# -- config and networks -------------------------------------------------------------------------

def test_registered_with_a_trainer_of_one_process():
    assert ALGORITHMS["crossq"] is CrossQ and trainer_class("crossq") is CrossQTrainer


def test_defaults_are_sb3_contribs():
    c = CrossQConfig()
    assert (c.learning_rate, c.batch_size, c.learning_starts, c.gamma, c.policy_delay, c.ent_coef, c.tau) == \
        (1e-3, 256, 100, 0.99, 3, "auto", 1.0)
    assert (c.adam_beta1, c.batch_norm_momentum, c.batch_norm_eps, c.renorm_warmup_steps) == (0.5, 0.01, 1e-3, 100_000)
    assert c.net_arch == [256, 256] and c.actor_batch_norm


@pytest.mark.parametrize("bad, message", [
    ({"tau": 0.5}, "no target networks"), ({"policy_delay": 0}, "policy_delay"), ({"batch_size": 1}, "batch_size"),
    ({"critic_arch": []}, "critic_arch"), ({"batch_norm_momentum": 0.0}, "batch_norm_momentum"),
    ({"batch_norm_eps": 0}, "batch_norm_eps"), ({"renorm_warmup_steps": -1}, "renorm_warmup_steps"),
    ({"adam_beta1": 1.0}, "adam_beta1"), ({"ent_coef": "automatic"}, "ent_coef"),
    ({"target_update_interval": 1}, "unknown config key"), ({"critic_arch": "wide"}, "critic_arch"),
])
def test_bad_config_is_one_line(bad, message):
    with pytest.raises(ValueError, match=message) as info:
        CrossQ(OBS, ACT, bad)
    assert "\n" not in str(info.value)


def test_batch_renorm_networks_without_targets_resting_in_eval_mode():
    agent = CrossQ(OBS, ACT, TINY)
    kinds = [type(layer).__name__ for layer in agent.critics.nets[0].layers]
    assert kinds == ["BatchNorm", "Linear", "ReLU", "BatchNorm", "Linear", "ReLU", "BatchNorm", "Linear"]
    assert [type(layer).__name__ for layer in agent.actor.layers][:2] == ["BatchNorm", "Linear"]
    for bn in norms(agent.critics.nets[1]) + norms(agent.actor):
        assert bn.renorm and (bn.momentum, bn.eps, bn.warmup_steps) == (0.01, 1e-3, 100_000)
    assert agent.critics.targets == [] and not any("target" in key for key in agent.state_dict()[0])
    assert {opt.beta1 for opt in (agent.actor_optimizer, *agent.critics.optimizers)} == {0.5}
    assert agent.alpha_optimizer.beta1 == 0.9
    assert not agent.actor.training and not any(net.training for net in agent.critics.nets)
    assert not norms(CrossQ(OBS, ACT, {**TINY, "actor_batch_norm": False}).actor)
    with pytest.raises(ValueError, match="CrossQ needs a bounded Box action space"):
        CrossQ(OBS, spaces.Box(-np.inf, np.inf, (2,), np.float32))


def test_acting_uses_running_statistics_and_changes_nothing():
    agent = CrossQ(OBS, ACT, TINY, seed=0)
    agent.train_step(replay().sample(16))
    state = {k: v.copy() for k, v in agent.state_dict()[0].items()}
    obs = np.random.default_rng(1).uniform(-1, 1, (20, 3)).astype(np.float32)
    batch = agent.act(obs)
    np.testing.assert_allclose(batch, np.stack([agent.act(o) for o in obs]), rtol=1e-5, atol=1e-6)  # rows independent
    assert agent.explore(obs[0], step=1000).shape == (2,)                                  # one row: eval mode
    assert all(np.array_equal(state[k], v) for k, v in agent.state_dict()[0].items())


# -- the update ----------------------------------------------------------------------------------

def test_one_joint_pass_sets_the_critics_batch_statistics():
    """The first batch-renorm layer's running mean after one update is momentum times the mean of
    [s, a; s', a'] stacked: both halves went through one pass."""
    agent = CrossQ(OBS, ACT, TINY, seed=0)
    batch = agent.prepare([replay().sample(16)])[0]
    next_actions = agent.scaler.to_env(agent.policy(batch.next_obs, batch.noise[:, 0]).action)
    agent.train_round([batch])
    x = np.concatenate([np.hstack([batch.obs, batch.actions]), np.hstack([batch.next_obs, next_actions])])
    for net in agent.critics.nets:
        first = norms(net)[0]
        np.testing.assert_allclose(first.running_mean.value, 0.01 * x.mean(axis=0), rtol=1e-4, atol=1e-7)
        assert int(first.num_batches.value) == 1


def test_policy_delay_steps_the_actor_and_temperature_every_third_update():
    agent = CrossQ(OBS, ACT, TINY, seed=0)
    buf = replay()
    actor = agent.actor.state_dict()["1.weight"].copy()
    critic = agent.critics.nets[0].state_dict()["1.weight"].copy()
    for update in range(1, 7):
        metrics = agent.train_step(buf.sample(16))
        assert set(metrics) == set(CrossQ.metric_names)
        moved = not np.array_equal(actor, agent.actor.state_dict()["1.weight"])
        assert moved == (update >= 3), update
        assert (agent.alpha != 1.0) == (update >= 3)
    assert not np.array_equal(critic, agent.critics.nets[0].state_dict()["1.weight"])
    assert {int(bn.num_batches.value) for net in agent.critics.nets for bn in norms(net)} == {6}
    assert {int(bn.num_batches.value) for bn in norms(agent.actor)} == {2}


class _Half:
    share = 0.5

    def step(self, *args, **kwargs):
        raise AssertionError("never reached")


def test_runs_in_one_process():
    env = gym.make("Pendulum-v1")
    agent = CrossQ(env.observation_space, env.action_space, TINY)
    with pytest.raises(ValueError, match="lanes=2: CrossQ's batch renormalization .* use lanes=1 or auto"):
        CrossQTrainer(agent, "Pendulum-v1", RunSettings(100, progress=False, lanes=2))
    trainer = CrossQTrainer(agent, "Pendulum-v1", RunSettings(100, progress=False))
    assert trainer.lanes == 1 and "batch statistics" in trainer.lanes_reason
    trainer.close()
    assert agent.parallel_modules() == []
    batch = agent.prepare([_pendulum_batch()])
    with pytest.raises(ValueError, match="cannot be split over processes: use lanes=1"):
        agent.train_round(batch, _Half())


def _pendulum_batch(rows: int = 16) -> Batch:
    rng = np.random.default_rng(3)
    return Batch(obs=rng.uniform(-1, 1, (rows, 3)).astype(np.float32),
                 actions=rng.uniform(-2, 2, (rows, 1)).astype(np.float32),
                 rewards=rng.normal(size=rows).astype(np.float32), next_obs=rng.uniform(-1, 1, (rows, 3)).astype(np.float32),
                 terminated=np.zeros(rows, np.float32), discount=np.full(rows, 0.99, np.float32))


# -- runs, checkpoints, resume -------------------------------------------------------------------

def train(tmp_path, seed=0, steps=150, stop_at=None, name="run"):
    env = gym.make("Pendulum-v1")
    # warm-up 25: the critics renormalize from update 26 (before the interruption at 50), the
    # actor from its 26th pass, update 78 (after it)
    config = {**TINY, "learning_starts": 60, "renorm_warmup_steps": 25}
    agent = CrossQ(env.observation_space, env.action_space, config, seed=seed)
    trainer = CrossQTrainer(agent, "Pendulum-v1", RunSettings(steps, seed=seed, progress=False, run_dir=tmp_path / name))
    trainer.run(stop_at=stop_at)
    return agent, trainer


def test_same_seed_identical_and_an_interrupted_run_resumes_exactly(tmp_path):
    full, _ = train(tmp_path, name="full")
    again, _ = train(tmp_path, name="again")
    other, _ = train(tmp_path, seed=1, name="other")
    _, first = train(tmp_path, stop_at=110, name="split")
    first.save_checkpoints(periodic=False)
    resumed = OffPolicyTrainer.resume(tmp_path / "split", progress=False)
    assert type(resumed) is CrossQTrainer
    resumed.run()
    expected = full.state_dict()[0]
    assert {"critic0/0.running_mean", "critic1/3.running_var", "actor/6.num_batches"} <= set(expected)
    assert all(bn.renorm_active for bn in norms(full.critics.nets[0]) + norms(full.actor))
    for got in (again.state_dict()[0], resumed.agent.state_dict()[0]):
        assert set(got) == set(expected) and all(np.array_equal(expected[k], got[k]) for k in expected)
    assert resumed.agent.n_updates == full.n_updates and resumed.agent.last_actor_loss == full.last_actor_loss
    assert not np.array_equal(expected["critic0/0.running_mean"], other.state_dict()[0]["critic0/0.running_mean"])


def test_save_load_and_policy_export_round_trip(tmp_path):
    agent, _ = train(tmp_path)
    loaded, meta = load_agent(save_agent(agent, tmp_path / "crossq.npz"))
    assert isinstance(loaded, CrossQ) and meta["algo"] == "crossq"
    want, got = agent.state_dict()[0], loaded.state_dict()[0]
    assert all(np.array_equal(want[k], got[k]) for k in want)
    obs = np.random.default_rng(0).uniform(-1, 1, (20, 3)).astype(np.float32)
    np.testing.assert_array_equal(agent.act(obs), loaded.act(obs))
    np.testing.assert_array_equal(agent.act(obs, deterministic=False), loaded.act(obs, deterministic=False))
    policy, _ = load_agent(export_policy(agent, tmp_path / "policy.npz"))
    np.testing.assert_array_equal(agent.act(obs), policy.act(obs))


def test_forged_critic_widths_are_refused_before_building(tmp_path):
    agent = CrossQ(OBS, ACT, TINY)
    arrays, meta = agent.state_dict()
    meta = {"kind": "agent", "algo": "crossq", **meta}
    meta["config"]["critic_arch"] = [10**6, 10**6]
    rlnn.save_arrays(tmp_path / "forged.npz", arrays, meta)
    with pytest.raises(ValueError, match="forged.npz: malformed crossq checkpoint: .*critics of about"):
        load_agent(tmp_path / "forged.npz")


def test_cli_trains_and_refuses_lanes(tmp_path, capsys):
    from experiments.cli import main
    out = tmp_path / "run"
    tiny = ["--set", "learning_starts=100", "--set", "net_arch=[16,16]", "--set", "critic_arch=[32,32]",
            "--set", "batch_size=32", "--blas-threads", "1"]
    assert main(["train", "crossq", "Pendulum-v1", "--steps", "300", "--out", str(out), "--quiet", "--no-gif",
                 *tiny]) == 0
    assert json.loads((out / "run.json").read_text())["lanes"] == 1
    assert load_agent(out / "final.npz")[0].n_updates == 200
    capsys.readouterr()
    assert main(["train", "crossq", "Pendulum-v1", "--steps", "300", "--out", str(tmp_path / "two"), "--quiet",
                 "--lanes", "2", *tiny]) == 2
    err = capsys.readouterr().err
    assert "lanes=2" in err and "use lanes=1" in err and len(err.strip().splitlines()) == 1


def test_learns_pendulum():
    """Seeded, small budget: from about −1200 (random) to better than −400 in 2,000 steps (SAC's
    test takes 5,000; this one reached −133)."""
    env = gym.make("Pendulum-v1")
    config = {"net_arch": [64, 64], "critic_arch": [64, 64], "batch_size": 64, "learning_starts": 300}
    agent = CrossQ(env.observation_space, env.action_space, config, seed=0)
    CrossQTrainer(agent, "Pendulum-v1", RunSettings(2000, seed=0, progress=False, blas_threads=1)).run()
    assert evaluate(lambda o: agent.act(o), gym.make("Pendulum-v1"), 5).mean_return > -400


# -- gradients (float64, finite differences) -----------------------------------------------------

SMALL = {"net_arch": [8, 8], "critic_arch": [12, 12], "dtype": "float64", "activation": "tanh"}
B = 6


def float64_agent(**overrides) -> CrossQ:
    """Networks with running statistics and norm scales away from their initial values, so the
    eval-mode passes are not the identity; the renormalization stays in its warm-up (plain batch
    norm, whose gradient is exact: r and d, stop-gradient constants, are rlnn's tests')."""
    agent = CrossQ(OBS, ACT, {**SMALL, **overrides}, seed=3)
    rng = np.random.default_rng(9)
    for bn in [bn for net in (*agent.critics.nets, agent.actor) for bn in norms(net)]:
        bn.running_mean.value = rng.normal(0.0, 0.5, bn.features)
        bn.running_var.value = rng.uniform(0.5, 2.0, bn.features)
        bn.scale.value = rng.uniform(0.5, 2.0, bn.features)
        bn.shift.value = rng.normal(0.0, 0.3, bn.features)
    return agent


def float64_batch() -> Batch:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((B, 2, 2))
    return Batch(obs=rng.standard_normal((B, 3)), actions=rng.uniform(ACT.low, ACT.high, (B, 2)),
                 rewards=rng.standard_normal(B), next_obs=rng.standard_normal((B, 3)),
                 terminated=(rng.random(B) < 0.3).astype(np.float64), discount=np.full(B, 0.99), noise=noise)


def frozen(agent: CrossQ):
    """A function that puts every buffer back as it is now: each train-mode pass of a finite
    difference then sees the same running statistics and step counts."""
    saved = [(b, b.value.copy()) for net in (*agent.critics.nets, agent.actor) for b in net.buffers()]

    def restore() -> None:
        for b, value in saved:
            b.value = value
    return restore


def worst_error(params, loss) -> float:
    analytic = [p.grad.copy() for p in params]
    return max(relative_error(g, numerical_gradient(loss, p.value)) for p, g in zip(params, analytic))


def test_critic_loss_gradient_through_the_joint_batch_statistics():
    agent, b, alpha = float64_agent(), float64_batch(), 0.3
    restore = frozen(agent)
    nxt = agent.policy(b.next_obs, b.noise[:, 0])
    x = np.concatenate([np.hstack([b.obs, b.actions]), np.hstack([b.next_obs, agent.scaler.to_env(nxt.action)])])
    loss_value, _ = agent.critic_loss(b, alpha, b.noise[:, 0])
    restore()

    def joint() -> np.ndarray:              # written here, not the agent's joint_q: a check of that too
        restore()
        return np.stack([net.train()(x)[:, 0] for net in agent.critics.nets])

    q = joint()
    target = agent.td_target(b, alpha, q[:, B:], nxt.log_prob)           # y, held fixed (stop-gradient)
    assert td_loss_grad(q[:, :B], target)[0] == pytest.approx(loss_value, rel=1e-12)
    assert worst_error(agent.critics.parameters(), lambda: td_loss_grad(joint()[:, :B], target)[0]) < 1e-6


def test_actor_loss_gradient_through_critics_in_eval_mode():
    agent, b, alpha = float64_agent(), float64_batch(), 0.37
    restore = frozen(agent)
    critic_state = [net.state_dict() for net in agent.critics.nets]
    for p in agent.critics.parameters():
        p.grad[...] = 7.0
    sample = agent.actor_sample(b.obs, b.noise[:, 1])
    agent.actor_loss(b.obs, alpha, sample)
    assert all(np.all(p.grad == 7.0) for p in agent.critics.parameters())
    for net, state in zip(agent.critics.nets, critic_state):               # eval mode: statistics untouched
        assert all(np.array_equal(v, net.state_dict()[k]) for k, v in state.items())

    def loss() -> float:
        restore()
        return agent.actor_loss(b.obs, alpha, agent.actor_sample(b.obs, b.noise[:, 1]), backward=False)

    assert worst_error(agent.actor.parameters(), loss) < 1e-6


def test_temperature_loss_gradient():
    agent = float64_agent()
    log_prob = np.random.default_rng(7).standard_normal(B)
    agent.alpha_loss(log_prob)
    assert worst_error([agent.log_alpha], lambda: agent.alpha_loss(log_prob)) < 1e-6
