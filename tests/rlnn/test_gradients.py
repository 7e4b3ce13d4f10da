"""Finite-difference checks (float64) of every layer, activation, loss and a deep MLP."""

import numpy as np
import pytest

import rlnn
from rlnn import losses
from rlnn.gradcheck import check_loss, check_module, relative_error

TOL = 1e-6


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [(5, 3), (1, 4), (4, 1)])   # 1: the outer-product paths
def test_linear(bias, sizes):
    layer = rlnn.Linear(*sizes, bias=bias, rng_or_seed=1, dtype=np.float64)
    assert check_module(layer, _x((4, sizes[0]))) < TOL


@pytest.mark.parametrize("cls", [rlnn.Identity, rlnn.Sigmoid, rlnn.Tanh, rlnn.ReLU, rlnn.LeakyReLU, rlnn.Softmax])
def test_activation(cls):
    x = _x((6, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink away from the finite-difference step
    assert check_module(cls(), x) < TOL


def test_leaky_relu_steep_slope():
    assert check_module(rlnn.LeakyReLU(negative_slope=2.5), _x((5, 3)) + 0.01) < TOL


def test_step_is_forward_only():
    step = rlnn.Step()
    np.testing.assert_array_equal(step(np.array([[-1.0, 0.0, 2.0]])), [[0.0, 0.0, 1.0]])
    with pytest.raises(RuntimeError, match="no useful gradient"):
        step.backward(np.ones((1, 3)))


@pytest.mark.parametrize("loss", [
    losses.SquaredError("sum"), losses.SquaredError("mean"), losses.SquaredError("sum", half=True),
    losses.Huber(delta=0.7, reduction="sum"), losses.Huber(delta=0.7, reduction="mean"),
    losses.BCEWithLogits("sum"), losses.BCEWithLogits("mean"),
], ids=repr)
def test_elementwise_loss(loss):
    pred = _x((5, 3), 1) * 2
    target = _x((5, 3), 2)
    if isinstance(loss, losses.BCEWithLogits):
        target = np.random.default_rng(3).uniform(0, 1, (5, 3))
    assert check_loss(loss, pred, target) < TOL


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("labels", ["int", "one_hot"])
def test_softmax_cross_entropy(reduction, labels):
    logits = _x((6, 4)) * 3
    y = np.array([0, 3, 1, 1, 2, 0])
    target = y if labels == "int" else np.eye(4)[y]
    assert check_loss(losses.SoftmaxCrossEntropy(reduction), logits, target) < TOL


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
def test_deep_random_mlp(activation):
    rng = np.random.default_rng(7)
    sizes = [int(s) for s in rng.integers(2, 7, size=7)]  # six layers of random widths
    net = rlnn.MLP(sizes, activation=activation, output_activation="tanh", rng_or_seed=rng, dtype=np.float64)
    assert check_module(net, rng.standard_normal((3, sizes[0]))) < TOL


def test_mlp_with_softmax_output_and_nested_sequential():
    rng = np.random.default_rng(3)
    net = rlnn.Sequential(rlnn.MLP([3, 5, 4], activation="tanh", rng_or_seed=rng, dtype=np.float64),
                          rlnn.Sigmoid(), rlnn.Linear(4, 3, rng_or_seed=rng, dtype=np.float64), rlnn.Softmax())
    assert check_module(net, rng.standard_normal((4, 3))) < TOL


def test_backward_accumulates_and_input_grad_flags():
    net = rlnn.MLP([3, 4, 2], activation="tanh", rng_or_seed=0, dtype=np.float64)
    x, g = _x((5, 3)), _x((5, 2), 1)
    net.zero_grad()
    net(x)
    gx = net.backward(g)
    once = [p.grad.copy() for p in net.parameters()]
    net(x)
    assert net.backward(g, input_grad=False) is None
    for p, first in zip(net.parameters(), once):
        np.testing.assert_allclose(p.grad, 2 * first)  # accumulated, not overwritten
    net(x)
    np.testing.assert_allclose(net.backward(g, param_grads=False), gx)
    for p, first in zip(net.parameters(), once):
        np.testing.assert_allclose(p.grad, 2 * first)  # param_grads=False leaves .grad alone
    net(x)
    net.backward(g, accumulate=False)
    for p, first in zip(net.parameters(), once):
        np.testing.assert_allclose(p.grad, first)      # accumulate=False: overwritten = zero_grad + backward


def test_backward_without_accumulating_writes_every_parameter_gradient():
    """``accumulate=False`` through nested containers, a bias-free layer and float32: every
    gradient equals ``zero_grad`` + ``backward``, whatever ``.grad`` held before."""
    rng = np.random.default_rng(5)
    net = rlnn.Sequential(rlnn.MLP([3, 6, 4], rng_or_seed=rng), rlnn.Tanh(),
                          rlnn.Linear(4, 2, bias=False, rng_or_seed=rng))
    x, g = _x((7, 3)).astype(np.float32), _x((7, 2), 1).astype(np.float32)
    net.zero_grad()
    net(x)
    net.backward(g)
    expected = [p.grad.copy() for p in net.parameters()]
    for p in net.parameters():
        p.grad[...] = np.nan                             # stale contents must not leak in
    net(x)
    net.backward(g, input_grad=False, accumulate=False)
    for p, e in zip(net.parameters(), expected):
        np.testing.assert_allclose(p.grad, e, rtol=1e-6)


class _Scale(rlnn.Module):
    """A user's own layer, written before ``accumulate`` existed: ``y = s x``, gradients added."""

    def __init__(self) -> None:
        self.s = rlnn.Parameter(np.array([1.5]))

    def forward(self, x):
        self._x = x
        return self.s.value[0] * x

    def backward(self, grad_out, *, param_grads=True, input_grad=True):
        if param_grads:
            self.s.grad[0] += float(np.vdot(self._x, grad_out))
        return self.s.value[0] * grad_out if input_grad else None

    def named_parameters(self):
        return [("s", self.s)]


def test_a_users_layer_without_accumulate_still_gets_a_fresh_gradient():
    net = rlnn.Sequential(rlnn.Linear(3, 2, rng_or_seed=0, dtype=np.float64), _Scale())
    x, g = _x((4, 3)), _x((4, 2), 1)
    net.zero_grad()
    net(x)
    net.backward(g)
    expected = [p.grad.copy() for p in net.parameters()]
    net(x)
    net.backward(g, accumulate=False)        # _Scale has no `accumulate`: zeroed, then added to
    for p, e in zip(net.parameters(), expected):
        np.testing.assert_allclose(p.grad, e)


def test_replica_shares_parameters_and_keeps_its_own_cache():
    net = rlnn.MLP([3, 6, 2], rng_or_seed=0, dtype=np.float64)
    twin = net.replica()
    assert [id(p) for p in twin.parameters()] == [id(p) for p in net.parameters()]
    x1, x2, g = _x((4, 3)), _x((4, 3), 1), _x((4, 2), 2)
    net.zero_grad()
    net(x1)
    twin(x2)                     # must not disturb net's cache of x1
    net.backward(g, input_grad=False)
    from_net = [p.grad.copy() for p in net.parameters()]
    fresh = net.copy()
    fresh.zero_grad()
    fresh(x1)
    fresh.backward(g, input_grad=False)
    for a, b in zip(from_net, fresh.parameters()):
        np.testing.assert_allclose(a, b.grad)
    twin.backward(g, input_grad=False)   # the replica's backward adds into the shared .grad
    fresh(x2)
    fresh.backward(g, input_grad=False)
    for p, b in zip(net.parameters(), fresh.parameters()):
        np.testing.assert_allclose(p.grad, b.grad)


def test_forward_and_backward_do_not_modify_the_callers_arrays():
    # Sequential works in place only on its own temporaries, never on what it was given.
    net = rlnn.Sequential(rlnn.Tanh(), rlnn.MLP([3, 4, 4, 2], activation="relu", output_activation="sigmoid",
                                                rng_or_seed=0), rlnn.ReLU())
    x, g = _x((5, 3)).astype(np.float32), _x((5, 2)).astype(np.float32)
    x0, g0 = x.copy(), g.copy()
    net(x)
    net.backward(g)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(g, g0)


def test_gradcheck_catches_a_wrong_gradient():
    class Broken(rlnn.Tanh):
        def _local_grad(self, grad_out, out):
            return grad_out * (1.0 - self._y)  # forgot the square
    assert check_module(Broken(), _x((4, 3))) > 1e-2


def test_relative_error_shapes():
    assert relative_error(np.ones(3), np.ones(3)) == 0.0
    with pytest.raises(ValueError, match="shape mismatch"):
        relative_error(np.ones(3), np.ones(4))


def test_huber_value_by_hand():
    e = np.array([-2.0, -0.3, 0.0, 0.5, 1.5])
    by_hand = sum(0.5 * v * v if abs(v) <= 0.7 else 0.7 * (abs(v) - 0.35) for v in e)
    value, grad = losses.Huber(delta=0.7, reduction="sum")(e, np.zeros(5))
    assert value == pytest.approx(by_hand)
    np.testing.assert_allclose(grad, np.clip(e, -0.7, 0.7))


def test_predict_matches_forward_and_leaves_the_cache_alone():
    net = rlnn.MLP([3, 6, 6, 2], activation="tanh", output_activation="sigmoid", rng_or_seed=0, dtype=np.float64)
    x, other, g = _x((4, 3)), _x((5, 3), 1), _x((4, 2), 2)
    np.testing.assert_array_equal(net.predict(other), net(other))
    net(x)
    expected = net.backward(g)
    net(x)
    net.predict(other)                 # between forward and backward: must not disturb it
    np.testing.assert_array_equal(net.backward(g), expected)
    relu = rlnn.MLP([3, 6, 2], rng_or_seed=0, dtype=np.float64)
    np.testing.assert_array_equal(relu.predict(other), relu(other))
    with pytest.raises(ValueError, match="expects input of shape"):
        relu.predict(np.ones(3))
