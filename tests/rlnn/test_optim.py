"""Seed 001: each update rule against a hand computation on f(x, y) = x^2/20 + y^2 from (-7, 2),
plus weight decay, clipping, Polyak updates, schedules and optimiser state."""

import math
import tracemalloc

import numpy as np
import pytest

import rlnn
from rlnn import optim


def grad_f(p):
    """df/dx = x / 10, df/dy = 2 y."""
    return np.array([p[0] / 10.0, 2.0 * p[1]])


def two_steps(make_optimizer):
    param = rlnn.Parameter(np.array([-7.0, 2.0]))
    opt = make_optimizer([param])
    path = []
    for _ in range(2):
        param.grad = grad_f(param.value)
        opt.step()
        path.append(param.value.copy())
    return path


# Hand computations. g0 = (-0.7, 4); the second gradient is written out from the first point.
CASES = {
    "sgd": (lambda p: optim.SGD(p, lr=0.1),
            [(-6.93, 1.6), (-6.93 + 0.0693, 1.6 - 0.32)]),
    "momentum": (lambda p: optim.Momentum(p, lr=0.1, momentum=0.9),
                 # v1 = -0.1 g0 = (0.07, -0.4); v2 = 0.9 v1 - 0.1 (-0.693, 3.2) = (0.1323, -0.68)
                 [(-6.93, 1.6), (-6.93 + 0.1323, 1.6 - 0.68)]),
    "nesterov": (lambda p: optim.Momentum(p, lr=0.1, momentum=0.9, nesterov=True),
                 # θ1 = θ0 + 0.9 v1 - 0.1 g0 = (-6.867, 1.24); g1 = (-0.6867, 2.48)
                 # v2 = (0.063 + 0.06867, -0.36 - 0.248); θ2 = θ1 + 0.9 v2 - 0.1 g1
                 [(-6.867, 1.24), (-6.867 + 0.9 * 0.13167 + 0.06867, 1.24 - 0.9 * 0.608 - 0.248)]),
    "adagrad": (lambda p: optim.AdaGrad(p, lr=1.5, eps=0.0),
                # h1 = g0^2 so the first step is lr * sign(g0); g1 = (-0.55, 1); h2 = (0.49 + 0.3025, 17)
                [(-5.5, 0.5), (-5.5 + 1.5 * 0.55 / math.sqrt(0.7925), 0.5 - 1.5 / math.sqrt(17.0))]),
    "rmsprop": (lambda p: optim.RMSProp(p, lr=0.1, alpha=0.9, eps=0.0),
                # h1 = 0.1 g0^2, so the first step is 0.1 / sqrt(0.1) * sign(g0)
                [(-7 + 0.1 / math.sqrt(0.1), 2 - 0.1 / math.sqrt(0.1)), None]),
    "adam": (lambda p: optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=0.0),
             # step 1: m̂ = g0, v̂ = g0^2 -> θ1 = θ0 - 0.1 sign(g0) = (-6.9, 1.9); g1 = (-0.69, 3.8)
             # m2 = (0.09 (-0.7) + 0.1 (-0.69), 0.09 (4) + 0.1 (3.8)) = (-0.132, 0.74), m̂ = m2 / 0.19
             # v2 = (0.000999 (0.49) + 0.001 (0.4761), 0.000999 (16) + 0.001 (14.44)), v̂ = v2 / 0.001999
             [(-6.9, 1.9),
              (-6.9 + 0.1 * (0.132 / 0.19) / math.sqrt((0.00048951 + 0.0004761) / 0.001999),
               1.9 - 0.1 * (0.74 / 0.19) / math.sqrt((0.015984 + 0.01444) / 0.001999))]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_update_rule_by_hand(name):
    make, expected = CASES[name]
    path = two_steps(make)
    for got, want in zip(path, expected):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_rmsprop_second_step_by_hand():
    x1, y1 = CASES["rmsprop"][1][0]
    g1 = np.array([x1 / 10, 2 * y1])
    h2 = 0.9 * 0.1 * np.array([0.49, 16.0]) + 0.1 * g1 ** 2
    expected = np.array([x1, y1]) - 0.1 * g1 / np.sqrt(h2)
    np.testing.assert_allclose(two_steps(CASES["rmsprop"][0])[1], expected, rtol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_every_optimizer_descends_f(name):
    param = rlnn.Parameter(np.array([-7.0, 2.0]))
    opt = CASES[name][0]([param])
    for _ in range(100):
        param.grad = grad_f(param.value)
        opt.step()
    x, y = param.value
    assert x ** 2 / 20 + y ** 2 < 0.5 * (49 / 20 + 4)


def test_weight_decay_adds_lambda_theta():
    param = rlnn.Parameter(np.array([-7.0, 2.0]))
    opt = optim.SGD([param], lr=0.1, weight_decay=0.5)
    param.grad = grad_f(param.value)
    opt.step()
    np.testing.assert_allclose(param.value, [-7 - 0.1 * (-0.7 - 3.5), 2 - 0.1 * (4 + 1.0)])


def test_adamw_decoupled_decay():
    param = rlnn.Parameter(np.array([-7.0, 2.0]))
    opt = optim.Adam([param], lr=0.1, eps=0.0, weight_decay=0.5, decoupled=True)
    param.grad = grad_f(param.value)
    opt.step()
    np.testing.assert_allclose(param.value, np.array([-7.0, 2.0]) * (1 - 0.05) - 0.1 * np.array([-1.0, 1.0]))


def test_learning_rate_schedule_is_used():
    param = rlnn.Parameter(np.array([1.0]))
    opt = optim.SGD([param], lr=rlnn.schedules.StepDecay(1.0, 0.5, every=1))
    for _ in range(3):
        param.grad = np.array([1.0])
        opt.step()
    np.testing.assert_allclose(param.value, [1.0 - 1.0 - 0.5 - 0.25])


def test_schedules():
    s = rlnn.schedules
    assert s.Linear(1.0, 0.1, 10)(5) == pytest.approx(0.55) and s.Linear(1.0, 0.1, 10)(99) == 0.1
    assert s.Exponential(1.0, 0.5, minimum=0.2)(10) == 0.2
    assert s.Cosine(1.0, 0.0, 10)(5) == pytest.approx(0.5)
    assert s.schedule_from_config(s.schedule_config(s.Linear(1.0, 0.1, 10))) == s.Linear(1.0, 0.1, 10)
    assert s.schedule_from_config(0.3)(7) == 0.3
    with pytest.raises(ValueError, match="unknown schedule"):
        s.schedule_from_config({"type": "Nope"})


def test_clip_grad_norm_global():
    a, b = rlnn.Parameter(np.zeros(2)), rlnn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])
    assert optim.clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([a.grad, b.grad]), [0.6, 0.0, 0.8])
    assert optim.global_grad_norm([a, b]) == pytest.approx(1.0)
    optim.clip_grad_norm([a, b], 10.0)  # below the limit: untouched
    np.testing.assert_allclose(b.grad, [0.8])


def test_polyak_and_hard_update():
    target = rlnn.MLP([3, 4, 2], rng_or_seed=0, dtype=np.float64)
    source = rlnn.MLP([3, 4, 2], rng_or_seed=1, dtype=np.float64)
    t0 = [p.value.copy() for p in target.parameters()]
    optim.polyak_update(target.parameters(), source.parameters(), tau=0.25)
    for p, old, s in zip(target.parameters(), t0, source.parameters()):
        np.testing.assert_allclose(p.value, 0.75 * old + 0.25 * s.value)
    optim.hard_update(target.parameters(), source.parameters())
    for p, s in zip(target.parameters(), source.parameters()):
        np.testing.assert_array_equal(p.value, s.value)
    with pytest.raises(ValueError, match="polyak_update"):
        optim.polyak_update(target.parameters(), rlnn.MLP([3, 5, 2]).parameters(), 0.5)
    with pytest.raises(ValueError, match="tau"):
        optim.polyak_update(target.parameters(), source.parameters(), 1.5)


def test_optimizer_state_round_trip_continues_identically():
    def make():
        net = rlnn.MLP([2, 3, 1], rng_or_seed=0, dtype=np.float64)
        return net, optim.Adam(net.parameters(), lr=0.01)

    def step(net, opt):
        net.zero_grad()
        net(np.ones((4, 2)))
        net.backward(np.ones((4, 1)))
        opt.step()

    net_a, opt_a = make()
    for _ in range(3):
        step(net_a, opt_a)
    net_b, opt_b = make()
    net_b.load_state_dict(net_a.state_dict())
    opt_b.load_state_dict(opt_a.state_dict())
    step(net_a, opt_a)
    step(net_b, opt_b)
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        np.testing.assert_array_equal(pa.value, pb.value)
    with pytest.raises(ValueError, match="does not match"):
        opt_b.load_state_dict({"t": 1, "state": {}})


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "rmsprop", "adam"])
def test_step_is_in_place_without_allocation(name):
    net = rlnn.MLP([300, 300, 10], rng_or_seed=0, dtype=np.float64)  # ~93k parameters, 740 kB
    opt = optim.OPTIMIZERS[name](net.parameters(), lr=1e-3, weight_decay=1e-4)
    views = [p.value for p in net.parameters()]
    for p in net.parameters():
        p.grad[...] = 0.01
    opt.step()
    tracemalloc.start()
    opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50_000  # a single temporary of the parameter vector would be ~740 kB
    assert all(p.value is v for p, v in zip(net.parameters(), views))


def test_optimizer_rejects_bad_parameter_lists():
    p = rlnn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([])
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p])
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([np.zeros(2)])


def test_moved_parameters_train_exactly_as_before_and_bad_buffers_are_refused():
    from rlnn.module import move_parameters
    x = np.random.default_rng(0).standard_normal((6, 3))
    g = np.random.default_rng(1).standard_normal((6, 2))
    moved, kept = (rlnn.MLP([3, 5, 2], rng_or_seed=0, dtype=np.float64) for _ in range(2))
    opts = [rlnn.optim.Adam(net.parameters(), lr=0.01) for net in (moved, kept)]

    def step(net, opt):
        net.zero_grad()
        net(x)
        net.backward(g)
        opt.step()

    for net, opt in zip((moved, kept), opts):
        step(net, opt)
    n = moved.num_parameters()
    value, grad = np.full(n, np.nan), np.full(n, np.nan)
    move_parameters(moved, value, grad)
    opts[0].rebind()   # Adam's moments come along
    assert all(np.shares_memory(p.value, value) and np.shares_memory(p.grad, grad) for p in moved.parameters())
    for _ in range(3):
        for net, opt in zip((moved, kept), opts):
            step(net, opt)
    np.testing.assert_array_equal(value, np.concatenate([p.value.ravel() for p in kept.parameters()]))
    moved.zero_grad()
    assert not grad.any()   # zero_grad follows the move
    with pytest.raises(ValueError, match="grad buffer must be 1-D with 32 elements"):
        move_parameters(moved, value, np.zeros(31))
    with pytest.raises(ValueError, match="dtype float64"):
        move_parameters(moved, value.astype(np.float32), grad)


def test_adam_state_round_trips_exactly_and_refuses_foreign_names():
    """Adam keeps M = m / (1 − β1), V = v / (1 − β2) and saves them as they are; a state under
    other names (the m and v of a layout no shipped file uses) is a clear error."""
    rng = np.random.default_rng(0)
    net = rlnn.MLP([3, 8, 2], rng_or_seed=0)
    opt = optim.Adam(net.parameters(), lr=0.01)
    for _ in range(5):
        for p in net.parameters():
            p.grad[...] = rng.standard_normal(p.grad.shape)
        opt.step()
    saved = opt.state_dict()
    assert {k.split(".", 1)[1] for k in saved["state"]} == {"exp_sum", "exp_sum_sq"}
    twin = optim.Adam(rlnn.MLP([3, 8, 2], rng_or_seed=0).parameters(), lr=0.01)
    twin.load_state_dict(saved)
    for p, q in zip(opt.params, twin.params):
        for name in opt.state_names:
            np.testing.assert_array_equal(opt.state[p][name], twin.state[q][name])   # exact
    older = {"t": saved["t"], "state": {k.replace("sum", "avg"): v for k, v in saved["state"].items()}}
    with pytest.raises(ValueError, match="optimizer state does not match"):
        twin.load_state_dict(older)


@pytest.mark.parametrize("size", [1, 5, 33, 100, 67586])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_part_slices_cover_the_vector_once_and_cut_at_cache_lines(size, parts):
    slices = [optim.part_slice(size, k, parts) for k in range(parts)]
    assert [i for s in slices for i in range(size)[s]] == list(range(size))
    assert all(s.start % 16 == 0 for s in slices)          # float32: 64-byte boundaries
    if size >= 16 * parts * 4:                              # big vectors: near-equal parts
        assert max(s.stop - s.start for s in slices) - min(s.stop - s.start for s in slices) <= 16 + parts
