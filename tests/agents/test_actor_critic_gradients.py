"""Finite-difference checks of every hand-derived gradient of SAC, TD3 and DDPG (float64 networks).

Each check perturbs one parameter array at a time and compares the central difference of the
loss with the gradient the agent accumulated; the relative error is over the whole array."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from agents.actor_critic import td_loss_grad
from agents.replay import Batch
from agents.sac import SAC
from agents.td3 import DDPG, TD3
from rlnn.gradcheck import numerical_gradient, relative_error

OBS_DIM, ACT_DIM, B = 3, 2, 6
TOL = 1e-6
OBS_SPACE = spaces.Box(-5.0, 5.0, (OBS_DIM,), np.float32)
# Asymmetric bounds so the action scaling (center, scale) is part of every check.
ACT_SPACE = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 0.5], np.float32))
SMALL = {"net_arch": [16, 16], "dtype": "float64", "activation": "tanh"}


def make(cls, **overrides):
    return cls(OBS_SPACE, ACT_SPACE, {**SMALL, **overrides}, seed=3)


def batch(seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    return Batch(obs=rng.standard_normal((B, OBS_DIM)),
                 actions=rng.uniform(ACT_SPACE.low, ACT_SPACE.high, (B, ACT_DIM)),
                 rewards=rng.standard_normal(B), next_obs=rng.standard_normal((B, OBS_DIM)),
                 terminated=(rng.random(B) < 0.3).astype(np.float64), discount=np.full(B, 0.99))


def worst_error(params, loss) -> float:
    analytic = [p.grad.copy() for p in params]
    return max(relative_error(g, numerical_gradient(loss, p.value)) for p, g in zip(params, analytic))


@pytest.mark.parametrize("cls", [SAC, TD3, DDPG])
def test_critic_td_loss_gradient(cls):
    agent = make(cls)
    b = batch()
    target = np.random.default_rng(1).standard_normal(B)
    agent.critics.loss_backward(b.obs, b.actions, target)

    def loss() -> float:
        return td_loss_grad(agent.critics.forward(b.obs, b.actions), target)[0]

    assert worst_error(agent.critics.parameters(), loss) < TOL


@pytest.mark.parametrize("cls", [SAC, TD3, DDPG])
def test_critic_action_gradient(cls):
    """dQ/da out of the critics' backward to their input, with their own .grad untouched."""
    agent = make(cls)
    b = batch()
    w = np.random.default_rng(2).standard_normal((len(agent.critics.nets), B))
    for p in agent.critics.parameters():
        p.grad[...] = 7.0
    agent.critics.forward(b.obs, b.actions)
    analytic = agent.critics.action_grad(w)
    numeric = numerical_gradient(lambda: float((agent.critics.forward(b.obs, b.actions) * w).sum()), b.actions)
    assert relative_error(analytic, numeric) < TOL
    assert all(np.all(p.grad == 7.0) for p in agent.critics.parameters())


def test_sac_log_prob_and_action_gradient():
    """L = Σ w·log π + Σ v·tanh(u) through the squash, the reparameterisation and the log-std clamp."""
    agent = make(SAC)
    obs = batch().obs
    rng = np.random.default_rng(4)
    eps, w, v = rng.standard_normal((B, ACT_DIM)), rng.standard_normal(B), rng.standard_normal((B, ACT_DIM))

    def loss() -> float:
        s = agent.policy(obs, eps)
        return float(w @ s.log_prob + (v * s.action).sum())

    sample = agent.policy(obs, eps)
    agent.actor.zero_grad()
    agent.policy_backward(sample, v, w)
    assert worst_error(agent.actor.parameters(), loss) < TOL


def test_sac_log_prob_matches_density():
    """log π agrees with the change-of-variables formula written naively."""
    agent = make(SAC)
    obs = batch().obs
    eps = np.random.default_rng(5).standard_normal((B, ACT_DIM))
    s = agent.policy(obs, eps)
    out = agent.actor(obs)
    mean, log_std = out[:, :ACT_DIM], np.clip(out[:, ACT_DIM:], -20, 2)
    u = mean + np.exp(log_std) * eps
    gauss = -0.5 * ((u - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * np.log(2 * np.pi)
    expected = (gauss - np.log(1 - np.tanh(u) ** 2)).sum(axis=1)
    np.testing.assert_allclose(s.log_prob, expected, rtol=1e-10)
    np.testing.assert_allclose(s.action, np.tanh(u), rtol=1e-12)


@pytest.mark.parametrize("n_critics", [1, 2])
def test_sac_actor_loss_gradient_through_critics(n_critics):
    agent = make(SAC, n_critics=n_critics)
    obs = batch().obs
    eps = np.random.default_rng(6).standard_normal((B, ACT_DIM))
    alpha = 0.37
    for p in agent.critics.parameters():
        p.grad[...] = 7.0
    agent.actor_loss(obs, alpha, eps=eps)
    assert all(np.all(p.grad == 7.0) for p in agent.critics.parameters())
    assert worst_error(agent.actor.parameters(), lambda: agent.actor_loss(obs, alpha, eps=eps, backward=False)) < TOL


def test_sac_temperature_loss_gradient():
    agent = make(SAC)
    log_prob = np.random.default_rng(7).standard_normal(B)
    agent.alpha_loss(log_prob)
    assert worst_error([agent.log_alpha], lambda: agent.alpha_loss(log_prob)) < TOL


@pytest.mark.parametrize("cls", [TD3, DDPG])
def test_td3_actor_loss_gradient_through_critic(cls):
    agent = make(cls)
    obs = batch().obs
    for p in agent.critics.parameters():
        p.grad[...] = 7.0
    agent.actor_loss(obs)
    assert all(np.all(p.grad == 7.0) for p in agent.critics.parameters())
    assert worst_error(agent.actor.parameters(), lambda: agent.actor_loss(obs, backward=False)) < TOL


def test_relu_networks_pass_too():
    """The default ReLU networks: kinks are measure-zero, so the same bound holds at random points."""
    agent = make(SAC, activation="relu")
    obs = batch().obs
    eps = np.random.default_rng(8).standard_normal((B, ACT_DIM))
    agent.actor_loss(obs, 0.2, eps=eps)
    assert worst_error(agent.actor.parameters(), lambda: agent.actor_loss(obs, 0.2, eps=eps, backward=False)) < TOL
