"""Finite-difference checks of every hand-derived gradient of PPO and A2C (float64): the clipped
surrogate, the value loss with and without value clipping, the log-probabilities and entropies
of the categorical and Gaussian policies, and the whole loss through the networks."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from agents.distributions import Categorical, DiagGaussian
from agents.ppo import PPO
from agents.ppo_losses import clipped_surrogate, update_metrics, value_loss
from agents.rollout import RolloutBatch
from rlnn.gradcheck import numerical_gradient, relative_error

B, OBS_DIM, TOL = 12, 3, 1e-6
OBS_SPACE = spaces.Box(-5.0, 5.0, (OBS_DIM,), np.float32)
BOX = spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 0.5], np.float32))


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("clip_range", [0.2, None])
def test_clipped_surrogate_gradient(clip_range):
    """Ratios spread over both sides of the clip range, advantages of both signs: every branch of the min."""
    r = rng(1)
    log_prob, old = r.normal(0, 0.4, B), r.normal(0, 0.4, B)
    advantages = r.standard_normal(B)
    _, grad, ratio = clipped_surrogate(log_prob - old, advantages, clip_range)
    if clip_range is not None:
        assert np.any(ratio > 1 + clip_range) and np.any(ratio < 1 - clip_range)
        assert np.any(grad == 0) and np.any(grad != 0)     # clipped rows pass no gradient
    numeric = numerical_gradient(lambda: -clipped_surrogate(log_prob - old, advantages, clip_range)[0].mean(),
                                 log_prob)
    assert relative_error(grad, numeric) < TOL


def test_without_clipping_at_ratio_one_the_surrogate_is_a2c_s_policy_gradient():
    """One step from the collecting policy: d(−mean ρ Â)/dlog π = −Â / B, A2C's −mean(Â log π)."""
    log_prob, advantages = rng(2).standard_normal(B), rng(3).standard_normal(B)
    _, grad, ratio = clipped_surrogate(log_prob - log_prob, advantages, None)
    assert np.all(ratio == 1.0)
    np.testing.assert_array_equal(grad, -advantages / B)


@pytest.mark.parametrize("clip_range_vf", [None, 0.3])
def test_value_loss_gradient(clip_range_vf):
    r = rng(4)
    values, old, returns = r.standard_normal(B), r.standard_normal(B), r.standard_normal(B)
    _, grad = value_loss(values, old, returns, clip_range_vf)
    if clip_range_vf is not None:
        assert np.any(np.abs(values - old) > clip_range_vf) and np.any(grad == 0)
    numeric = numerical_gradient(lambda: np.mean(value_loss(values, old, returns, clip_range_vf)[0] ** 2), values)
    assert relative_error(grad, numeric) < TOL


def test_categorical_log_prob_and_entropy_gradients():
    """L = Σ w·log π(a) + Σ u·H through the softmax."""
    r = rng(5)
    logits, actions = r.standard_normal((B, 4)), r.integers(0, 4, B)
    w, u = r.standard_normal(B), r.standard_normal(B)

    def loss() -> float:
        d = Categorical(logits)
        return float(w @ d.log_prob(actions) + u @ d.entropy())

    analytic, _ = Categorical(logits).backward(actions, w, u)
    assert relative_error(analytic, numerical_gradient(loss, logits)) < TOL
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(Categorical(logits).entropy(), -(p * np.log(p)).sum(axis=1))


def test_gaussian_log_prob_and_entropy_gradients():
    r = rng(6)
    mean, log_std, actions = r.standard_normal((B, 2)), r.normal(0, 0.5, 2), r.standard_normal((B, 2))
    w, u = r.standard_normal(B), r.standard_normal(B)

    def loss() -> float:
        d = DiagGaussian(mean, log_std)
        return float(w @ d.log_prob(actions) + u @ d.entropy())

    g_mean, g_log_std = DiagGaussian(mean, log_std).backward(actions, w, u)
    assert relative_error(g_mean, numerical_gradient(loss, mean)) < TOL
    assert relative_error(g_log_std, numerical_gradient(loss, log_std)) < TOL
    std = np.exp(log_std)
    density = np.exp(-0.5 * ((actions - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(DiagGaussian(mean, log_std).log_prob(actions), np.log(density).sum(axis=1))


def minibatch(agent: PPO, seed: int) -> RolloutBatch:
    """Rows whose old log-probabilities are the agent's own, shifted: ratios on both sides of the clip range."""
    r = rng(seed)
    obs = r.standard_normal((B, OBS_DIM))
    out, values = agent._forward(obs, cache=False)
    dist = agent.distribution(out)
    actions = dist.sample(r)
    return RolloutBatch(obs, actions, dist.log_prob(actions) + r.normal(0, 0.4, B), values + r.normal(0, 0.5, B),
                        r.standard_normal(B), r.standard_normal(B))


@pytest.mark.parametrize("action_space", [spaces.Discrete(3), BOX], ids=["categorical", "gaussian"])
@pytest.mark.parametrize("overrides", [{}, {"share_net": True, "clip_range_vf": 0.3}, {"clip_range": None}],
                         ids=["separate", "shared+vf-clip", "a2c-like"])
def test_whole_loss_gradient_through_the_networks(action_space, overrides):
    """L = L_π + vf_coef L_V + ent_coef L_H with respect to every parameter (actor, critic, trunk, log σ)."""
    config = {"net_arch": [8, 8], "dtype": "float64", "ent_coef": 0.05, "vf_coef": 0.7, **overrides}
    agent = PPO(OBS_SPACE, action_space, config, seed=3)
    batch = minibatch(agent, 7)
    clip = agent.config.clip_range
    c = agent.config

    def loss() -> float:
        m = update_metrics([agent.loss_backward(batch, clip)], clip)
        return m["policy_loss"] + c.vf_coef * m["value_loss"] + c.ent_coef * m["entropy_loss"]

    loss()
    params = agent.optimizer.params
    analytic = [p.grad.copy() for p in params]
    worst = max(relative_error(g, numerical_gradient(loss, p.value)) for p, g in zip(params, analytic))
    assert worst < TOL
