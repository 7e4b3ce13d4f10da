"""BatchNorm (with batch renormalization), LayerNorm and Dropout: finite-difference gradients
in every mode, running statistics, train/eval modes and the MLP options that insert them."""

import numpy as np
import pytest

import rlnn
from rlnn.gradcheck import check_module, numerical_gradient

TOL = 1e-6


def _x(shape, seed=10, scale=2.0, shift=1.0):
    # seed 10, not 0: check_module's dL/dy comes from seed 0, and an input that is an affine map
    # of it per feature would lie in the span batch norm's input gradient projects out
    return np.random.default_rng(seed).standard_normal(shape) * scale + shift


def _affine(layer, seed=3):
    """Give a norm layer a scale and shift other than 1 and 0."""
    rng = np.random.default_rng(seed)
    layer.scale.value = rng.uniform(0.5, 2.0, layer.features)
    layer.shift.value = rng.standard_normal(layer.features)
    return layer


class _Frozen(rlnn.Module):
    """``module`` with its buffers put back before every forward, so every call computes the same
    function (one dropout mask, fixed running statistics and step count), as finite
    differences need."""

    def __init__(self, module):
        self.module = module
        self.saved = {name: b.value.copy() for name, b in module.named_buffers()}

    def forward(self, x):
        for name, b in self.module.named_buffers():
            b.value = self.saved[name]
        return self.module(x)

    def backward(self, grad_out, **kwargs):
        return self.module.backward(grad_out, **kwargs)

    def named_parameters(self):
        return self.module.named_parameters()


# -- gradients ---------------------------------------------------------------------------------

def test_batch_norm_gradients_through_the_batch_statistics():
    assert check_module(_affine(rlnn.BatchNorm(4, dtype=np.float64)), _x((6, 4))) < TOL


def test_batch_norm_gradients_in_eval_mode():
    layer = _affine(rlnn.BatchNorm(4, dtype=np.float64))
    layer.running_mean.value = [0.5, -1.0, 2.0, 0.0]
    layer.running_var.value = [0.3, 2.0, 1.0, 4.0]
    assert check_module(layer.eval(), _x((5, 4))) < TOL


def test_batch_renorm_gradients_during_the_warm_up():
    layer = _affine(rlnn.BatchNorm(4, renorm=True, warmup_steps=10**6, dtype=np.float64))
    layer.running_var.value = [0.01, 100.0, 1.0, 1.0]     # would clip r if renormalizing
    assert not layer.renorm_active
    assert check_module(layer, _x((6, 4))) < TOL
    plain = _affine(rlnn.BatchNorm(4, dtype=np.float64))
    np.testing.assert_array_equal(layer(_x((6, 4))), plain(_x((6, 4))))   # warm-up is plain batch norm


def _clipped_renorm():
    """A renormalizing layer whose r and d sit at their bounds in every feature (far from the
    edges, so a finite-difference step keeps them there), statistics frozen by momentum 0."""
    x = _x((8, 4))
    layer = _affine(rlnn.BatchNorm(4, renorm=True, warmup_steps=0, momentum=0.0, dtype=np.float64))
    mean, std = x.mean(axis=0), x.std(axis=0)
    running_std = std * np.array([0.1, 10.0, 0.1, 10.0])                  # r = σ_B/σ: 10 and 0.1 → r_max, 1/r_max
    layer.running_var.value = running_std ** 2 - layer.eps
    layer.running_mean.value = mean - running_std * np.array([8.0, -8.0, -8.0, 8.0])   # d = ±8 → ±d_max
    return layer, x


def test_batch_renorm_gradients_with_r_and_d_clipped():
    layer, x = _clipped_renorm()
    assert layer.renorm_active
    layer(x)
    _, inv_std, r, d = layer._cache
    np.testing.assert_allclose(r, [3.0, 1 / 3.0, 3.0, 1 / 3.0])
    np.testing.assert_allclose(d, [5.0, -5.0, -5.0, 5.0])
    assert check_module(layer, x) < TOL


def test_batch_renorm_unclipped_trains_the_eval_function_with_r_and_d_held_constant():
    """Within the clipping bounds x̂ = (x − μ)/σ: the train-mode output is the eval-mode one, and
    backward is batch norm's with dz = γ r g (r and d are stop-gradient constants)."""
    x = _x((16, 3))
    layer = _affine(rlnn.BatchNorm(3, renorm=True, warmup_steps=0, momentum=0.0, dtype=np.float64))
    layer.running_mean.value = x.mean(axis=0) + [0.3, -0.2, 0.1]
    layer.running_var.value = x.var(axis=0) * [1.5, 0.7, 1.1]
    g = _x((16, 3), seed=4)
    np.testing.assert_allclose(layer(x), layer.predict(x), rtol=1e-12, atol=1e-12)
    layer.zero_grad()
    dx = layer.backward(g)
    _, _, r, d = layer._cache
    assert np.all((r > 1 / 3) & (r < 3)) and np.all(np.abs(d) < 5)
    plain = rlnn.BatchNorm(3, dtype=np.float64)
    plain.scale.value = layer.scale.value * r
    plain(x)
    np.testing.assert_allclose(dx, plain.backward(g), rtol=1e-12)
    z = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + layer.eps)
    np.testing.assert_allclose(layer.scale.grad, (g * (r * z + d)).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(layer.shift.grad, g.sum(axis=0), rtol=1e-12)


def _reference(layer, x, g):
    """The module docstring's formulas written out in float64 for a train-mode pass from the
    layer's current state: ``(y, dL/dx, dL/dγ, dL/dβ)``."""
    x, g = x.astype(np.float64), g.astype(np.float64)
    gamma, beta = layer.scale.value.astype(np.float64), layer.shift.value.astype(np.float64)
    mean, var = x.mean(axis=0), x.var(axis=0)
    z = (x - mean) / np.sqrt(var + layer.eps)
    r, d = 1.0, 0.0
    if layer.renorm_active:
        sigma = np.sqrt(layer.running_var.value.astype(np.float64) + layer.eps)
        r = np.clip(np.sqrt(var + layer.eps) / sigma, 1 / layer.r_max, layer.r_max)
        d = np.clip((mean - layer.running_mean.value) / sigma, -layer.d_max, layer.d_max)
    dz = gamma * r * g
    dx = (dz - dz.mean(axis=0) - z * (dz * z).mean(axis=0)) / np.sqrt(var + layer.eps)
    return gamma * (r * z + d) + beta, dx, (g * (r * z + d)).sum(axis=0), g.sum(axis=0)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("renorm", [False, True])
def test_batch_norm_train_pass_matches_the_formulas_written_out(dtype, tol, renorm):
    """The fast train-mode pass (x − μ_B kept, scales folded, BLAS sums) against the module
    docstring's formulas in float64; r and d clipped in some features, free in others; every
    combination of backward's flags."""
    x, g = _x((32, 5), shift=0.5).astype(dtype), _x((32, 5), seed=4).astype(dtype)
    layer = _affine(rlnn.BatchNorm(5, renorm=renorm, warmup_steps=0, dtype=dtype))
    layer.running_mean.value = x.mean(axis=0) + np.array([0.1, -0.2, 30.0, 0.0, -30.0])   # d = ±d_max at 2, 4
    layer.running_var.value = x.var(axis=0) * np.array([1.5, 0.7, 1.0, 100.0, 0.01])      # r at 3, 4
    y_ref, dx_ref, dscale_ref, dshift_ref = _reference(layer, x, g)
    assert renorm == layer.renorm_active

    def close(got, want):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())

    y = layer(x)
    assert y.dtype == dtype
    close(y, y_ref)
    layer.zero_grad()
    close(layer.backward(g, accumulate=False), dx_ref)
    close(layer.scale.grad, dscale_ref)
    close(layer.shift.grad, dshift_ref)
    assert layer.backward(g, input_grad=False) is None                     # accumulates: twice the gradient
    close(layer.scale.grad, 2 * dscale_ref)
    close(layer.shift.grad, 2 * dshift_ref)
    layer.zero_grad()
    close(layer.backward(g, param_grads=False), dx_ref)
    assert not layer.scale.grad.any() and not layer.shift.grad.any()


def test_sums_are_blas_sums_along_either_axis():
    x = _x((7, 3)).astype(np.float32)
    for axis in (0, 1):
        got = rlnn.norm.sums(x, axis)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, x.astype(np.float64).sum(axis=axis), rtol=1e-6)
    assert rlnn.norm.sums(x, 0) is not rlnn.norm.sums(x, 0)                # a new array each time
    centered, mean, var, inv_std = rlnn.norm.center(x.astype(np.float64), 1, 1e-3)
    assert centered.shape == x.shape and mean.shape == var.shape == inv_std.shape == (7, 1)
    np.testing.assert_allclose(var[:, 0], x.var(axis=1), rtol=1e-6)


def test_a_dead_feature_with_a_tiny_eps_stays_finite():
    """A feature that is 0 in every row (a ReLU that never fires) with eps 1e-40: 1/(σ_B² + ε) is
    1e40, infinite in float32, so the backward must never form it (0 · inf would be NaN)."""
    x = _x((16, 3)).astype(np.float32)
    x[:, 1] = 0.0
    layer = rlnn.BatchNorm(3, eps=1e-40)
    y = layer(x)
    dx = layer.backward(_x((16, 3), seed=2).astype(np.float32))
    assert np.isfinite(y).all() and np.isfinite(dx).all() and np.isfinite(layer.scale.grad).all()
    assert not y[:, 1].any()


def test_layer_norm_gradients():
    assert check_module(_affine(rlnn.LayerNorm(5, dtype=np.float64)), _x((4, 5))) < TOL


def test_dropout_gradient_with_a_fixed_mask():
    layer = rlnn.Dropout(0.3, seed=1)
    assert check_module(_Frozen(layer), _x((6, 5))) < TOL
    assert 0 < np.count_nonzero(layer._mask == 0) < layer._mask.size    # some dropped, some kept


@pytest.mark.parametrize("norm", ["batch", "batch_renorm", "layer"])
@pytest.mark.parametrize("before", ["activation", "linear"])
def test_mlp_with_norm_and_dropout_gradients(norm, before):
    # batch_renorm in its warm-up: the renormalizing step, whose r and d back-propagation treats
    # as constants, is checked with r and d clipped above (unclipped, it is not the derivative)
    net = rlnn.MLP([3, 6, 5, 2], activation="tanh", norm=norm, norm_before=before, dropout=0.2,
                   rng_or_seed=0, dtype=np.float64)
    assert check_module(_Frozen(net), _x((7, 3))) < TOL


def test_eval_mode_network_gives_dq_da_without_touching_the_gradients():
    """CrossQ's actor loss: dQ/da through a critic in eval mode, its parameter gradients left alone."""
    net = rlnn.MLP([3, 5, 1], norm="batch_renorm", norm_before="linear", rng_or_seed=0, dtype=np.float64)
    net(_x((8, 3)))
    net.eval()
    for p in net.parameters():
        p.grad[...] = 7.0
    x, g = _x((4, 3), seed=2), _x((4, 1), seed=5)
    net(x)
    dx = net.backward(g, param_grads=False)
    assert all(np.all(p.grad == 7.0) for p in net.parameters())
    np.testing.assert_allclose(dx, numerical_gradient(lambda: float(np.sum(net.predict(x) * g)), x), rtol=1e-6)


def test_backward_without_accumulating_through_norm_layers():
    net = rlnn.MLP([3, 6, 2], norm="layer", dropout=0.1, rng_or_seed=1, dtype=np.float64)
    frozen = _Frozen(net)
    x, g = _x((5, 3)), _x((5, 2), seed=1)
    net.zero_grad()
    frozen(x)
    net.backward(g)
    expected = [p.grad.copy() for p in net.parameters()]
    for p in net.parameters():
        p.grad[...] = np.nan
    frozen(x)
    net.backward(g, input_grad=False, accumulate=False)
    for p, e in zip(net.parameters(), expected):
        np.testing.assert_allclose(p.grad, e)


# -- running statistics and modes -------------------------------------------------------------

def test_train_forward_updates_the_running_statistics():
    layer = rlnn.BatchNorm(3, momentum=0.25, dtype=np.float64)
    x = _x((10, 3))
    layer(x)
    np.testing.assert_allclose(layer.running_mean.value, 0.25 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var.value, 0.75 + 0.25 * x.var(axis=0, ddof=1))
    assert int(layer.num_batches.value) == 1
    layer(x)
    np.testing.assert_allclose(layer.running_mean.value, (1 - 0.75 ** 2) * x.mean(axis=0))
    assert int(layer.num_batches.value) == 2


def test_eval_and_predict_use_the_running_statistics_and_change_nothing():
    layer = _affine(rlnn.BatchNorm(3, dtype=np.float64))
    layer(_x((10, 3)))
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    x = _x((4, 3), seed=2)
    expected = (x - layer.running_mean.value) / np.sqrt(layer.running_var.value + layer.eps) * layer.scale.value \
        + layer.shift.value
    np.testing.assert_allclose(layer.predict(x), expected, rtol=1e-12)      # predict in train mode: eval behaviour
    assert layer.eval() is layer and not layer.training
    np.testing.assert_array_equal(layer(x), layer.predict(x))               # eval forward == predict, bit for bit
    np.testing.assert_allclose(layer(x[:1]), expected[:1], rtol=1e-12)      # one row is fine in eval mode
    for k, v in layer.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="at least 2 rows") as info:
        layer.train()(x[:1])
    assert "\n" not in str(info.value) and "predict" in str(info.value)


def test_predict_keeps_the_forward_cache_and_the_buffers():
    net = rlnn.MLP([3, 6, 2], norm="batch", dropout=0.3, rng_or_seed=0, dtype=np.float64)
    twin = net.copy()                   # the same weights, statistics and generator state
    x, g = _x((6, 3)), _x((6, 2), seed=1)
    net(x)
    state = net.state_dict()
    net.predict(_x((2, 3), seed=5))
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    dx = net.backward(g)                # still differentiates the forward on x
    twin(x)
    np.testing.assert_array_equal(twin.backward(g), dx)


def test_modes_reach_every_layer_and_predict_ignores_them():
    inner = rlnn.MLP([3, 4, 4], norm="layer", dropout=0.5, rng_or_seed=0)
    net = rlnn.Sequential(inner, rlnn.BatchNorm(4), rlnn.Dropout(0.5, seed=0), rlnn.Linear(4, 1, rng_or_seed=0))
    assert all(m.training for m in [net, inner, *inner.layers, *net.layers])
    assert net.eval() is net
    assert not any(m.training for m in [net, inner, *inner.layers, *net.layers])
    x = _x((5, 3)).astype(np.float32)
    np.testing.assert_array_equal(net(x), net.predict(x))
    assert net.train() is net and all(m.training for m in [net, inner, *inner.layers, *net.layers])
    assert not np.array_equal(net(x), net.predict(x))
    with pytest.raises(TypeError, match="True or False"):
        net.train("eval")


def test_default_predict_of_a_users_module_runs_in_eval_mode_and_keeps_its_mode():
    class Head(rlnn.Module):
        def __init__(self):
            self.body = rlnn.MLP([3, 4, 2], norm="batch", rng_or_seed=0, dtype=np.float64)

        def forward(self, x):
            return self.body(x) * 2.0

    head = Head()
    head(_x((6, 3)))
    state = head.body.state_dict()
    x = _x((1, 3))
    np.testing.assert_array_equal(head.predict(x), head.body.predict(x) * 2.0)
    assert head.training and head.body.training and head.body.layers[1].training
    for k, v in head.body.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


def test_replica_shares_buffers_and_keeps_its_own_mode():
    net = rlnn.MLP([3, 4, 2], norm="batch", rng_or_seed=0)
    twin = net.replica()
    assert [id(b) for b in twin.buffers()] == [id(b) for b in net.buffers()]
    assert twin.layers[1] is not net.layers[1]
    twin.eval()
    assert net.training and net.layers[1].training and not twin.layers[1].training
    net(_x((5, 3)).astype(np.float32))
    assert int(twin.layers[1].num_batches.value) == 1


def test_copy_keeps_buffers_and_mode():
    net = rlnn.MLP([3, 4, 2], norm="batch_renorm", dropout=0.2, rng_or_seed=0)
    net(_x((5, 3)).astype(np.float32))
    net.eval()
    clone = net.copy()
    assert not clone.training and not clone.layers[2].training
    for (name, a), (_, b) in zip(net.named_buffers(), clone.named_buffers()):
        assert a is not b
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)


def test_renorm_switches_on_after_exactly_warmup_steps_batches():
    renorm = rlnn.BatchNorm(3, renorm=True, warmup_steps=3, dtype=np.float64)
    plain = rlnn.BatchNorm(3, dtype=np.float64)
    for step in range(5):
        x = _x((8, 3), seed=step, shift=step)      # drifting batches: renorm must correct them
        assert renorm.renorm_active == (step >= 3)
        same = np.array_equal(renorm(x), plain(x))
        assert same == (step < 3)
    np.testing.assert_array_equal(renorm.running_mean.value, plain.running_mean.value)
    assert int(renorm.num_batches.value) == 5


# -- dropout -------------------------------------------------------------------------------------

def test_dropout_drops_p_and_rescales_in_train_mode_only():
    layer = rlnn.Dropout(0.25, seed=0)
    x = np.ones((400, 50), dtype=np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs(np.mean(y == 0) - 0.25) < 0.01
    assert layer.eval()(x) is x and layer.train().predict(x) is x
    assert rlnn.Dropout(0.0, seed=0)(x) is x
    assert layer(x.astype(np.float64)).dtype == np.float64


def test_dropout_masks_follow_the_seed_and_resume_from_the_state():
    a, b, c = rlnn.Dropout(0.5, seed=7), rlnn.Dropout(0.5, seed=7), rlnn.Dropout(0.5, seed=8)
    x = np.ones((20, 10))
    first = a(x)
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, c(x))
    saved = a.state_dict()
    after = [a(x) for _ in range(3)]
    resumed = rlnn.Dropout(0.5, seed=123)
    resumed.load_state_dict(saved)
    for expected in after:
        np.testing.assert_array_equal(resumed(x), expected)
    assert not np.array_equal(after[0], first)      # a new mask each forward


def test_dropout_checks_its_arguments():
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="Dropout p"):
            rlnn.Dropout(bad)
    with pytest.raises(ValueError, match="seed"):
        rlnn.Dropout(0.1, seed=-1)
    with pytest.raises(ValueError, match="seed"):
        rlnn.Dropout(0.1, seed=1.5)


# -- dtypes, containers, arguments -----------------------------------------------------------

@pytest.mark.parametrize("layer", [rlnn.BatchNorm(4), rlnn.BatchNorm(4, renorm=True, warmup_steps=0),
                                   rlnn.LayerNorm(4), rlnn.Dropout(0.5, seed=0)], ids=lambda m: type(m).__name__)
def test_float32_stays_float32(layer):
    x = _x((6, 4))                    # float64 given to a float32 layer: cast like Linear does
    for mode in (True, False):
        layer.train(mode)
        y = layer(x if layer.dtype else x.astype(np.float32))
        assert y.dtype == np.float32
        assert layer.backward(np.ones_like(y)).dtype == np.float32
        assert layer.predict(x.astype(np.float32)).dtype == np.float32
    for p in layer.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    assert all(b.dtype in (np.float32, np.int64, np.uint64) for b in layer.buffers())


def test_mlp_defaults_are_todays_mlp_and_options_keep_the_weights():
    plain = rlnn.MLP([3, 8, 8, 2], rng_or_seed=5)
    assert plain.config() == {"type": "MLP", "sizes": [3, 8, 8, 2], "activation": "relu",
                              "output_activation": "identity", "dtype": "float32"}
    assert [type(layer).__name__ for layer in plain.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert plain.buffers() == []
    full = rlnn.MLP([3, 8, 8, 2], rng_or_seed=5, norm="batch", norm_before="linear", dropout=0.1)
    assert [type(layer).__name__ for layer in full.layers] == [
        "BatchNorm", "Linear", "Dropout", "ReLU", "BatchNorm", "Linear", "Dropout", "ReLU", "BatchNorm", "Linear"]
    for a, b in zip(plain.linears, full.linears):
        np.testing.assert_array_equal(a.weight.value, b.weight.value)
    after_act = rlnn.MLP([3, 8, 8, 2], rng_or_seed=5, norm="layer")
    assert [type(layer).__name__ for layer in after_act.layers] == [
        "Linear", "LayerNorm", "ReLU", "Linear", "LayerNorm", "ReLU", "Linear"]
    # one packed buffer for every parameter, norm scales and shifts included
    flat_value, flat_grad = full._flat
    assert flat_value.size == full.num_parameters() == sum(p.size for p in full.parameters())
    assert all(np.shares_memory(p.value, flat_value) for p in full.parameters())


def test_optimizers_never_step_the_buffers():
    net = rlnn.MLP([3, 4, 2], norm="batch", dropout=0.2, rng_or_seed=0)
    assert not {id(b.value) for b in net.buffers()} & {id(p.value) for p in net.parameters()}
    opt = rlnn.optim.Adam(net.parameters(), lr=0.1, weight_decay=0.5, decoupled=True)
    net(_x((6, 3)))
    net.backward(np.ones((6, 2), dtype=np.float32))
    buffers = {k: b.value.copy() for k, b in net.named_buffers()}
    opt.step()
    for k, b in net.named_buffers():
        np.testing.assert_array_equal(b.value, buffers[k])


def test_config_round_trip():
    modules = [rlnn.BatchNorm(5, momentum=0.01, eps=1e-3, renorm=True, r_max=2.0, d_max=4.0, warmup_steps=7,
                              dtype=np.float64),
               rlnn.LayerNorm(3, eps=1e-4), rlnn.Dropout(0.3, seed=9), rlnn.Dropout(0.1),
               rlnn.MLP([2, 4, 1], norm="batch_renorm", norm_before="linear",
                        norm_kwargs={"momentum": 0.01, "warmup_steps": 10}, dropout=0.05, rng_or_seed=0),
               rlnn.Sequential(rlnn.LayerNorm(2), rlnn.Linear(2, 3, rng_or_seed=0), rlnn.Dropout(0.2, seed=1))]
    for module in modules:
        rebuilt = rlnn.module_from_config(module.config())
        assert type(rebuilt) is type(module) and rebuilt.config() == module.config()
        assert [n for n, _ in rebuilt.named_buffers()] == [n for n, _ in module.named_buffers()]


@pytest.mark.parametrize("kwargs, words", [
    ({"norm": "batchnorm"}, "unknown MLP norm"),
    ({"norm": "batch", "norm_before": "output"}, "norm_before"),
    ({"norm_kwargs": {"momentum": 0.1}}, "without a norm"),
    ({"norm": "layer", "norm_kwargs": {"momentum": 0.1}}, r"takes the options \['eps'\]"),
    ({"norm": "batch", "norm_kwargs": {"renorm": True}}, "takes the options"),
    ({"dropout": 1.0}, "dropout"),
])
def test_mlp_refuses_bad_norm_options_in_one_line(kwargs, words):
    with pytest.raises(ValueError, match=words) as info:
        rlnn.MLP([3, 4, 1], **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs, error", [
    ({"momentum": 1.5}, ValueError), ({"eps": 0.0}, ValueError), ({"warmup_steps": -1}, ValueError),
    ({"warmup_steps": 2.5}, ValueError), ({"r_max": 0.5}, ValueError), ({"renorm": "yes"}, TypeError),
    ({"dtype": np.int32}, TypeError),
])
def test_batch_norm_checks_its_arguments(kwargs, error):
    with pytest.raises(error):
        rlnn.BatchNorm(3, **kwargs)
    with pytest.raises(TypeError):
        rlnn.BatchNorm(3.0)


def test_wrong_widths_are_one_line_errors():
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 3\)"):
        rlnn.Sequential(rlnn.BatchNorm(3), rlnn.Linear(3, 2))(np.ones((2, 4)))
    with pytest.raises(ValueError, match="inside a Sequential expects"):
        rlnn.Sequential(rlnn.Linear(3, 4), rlnn.LayerNorm(5))(np.ones((2, 3), dtype=np.float32))
    layer = rlnn.BatchNorm(3)
    layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match="gradient of shape"):
        layer.backward(np.ones((4, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        rlnn.LayerNorm(2).backward(np.ones((1, 2)))


@pytest.mark.parametrize("training", [True, False])
def test_layers_passing_their_input_through_never_let_the_next_one_overwrite_it(training):
    """Dropout in eval mode (or p = 0) returns its input itself: the activation after it must
    not then work in place on the caller's array, forward or backward."""
    net = rlnn.Sequential(rlnn.Dropout(0.5 if not training else 0.0, seed=0), rlnn.Tanh(),
                          rlnn.Linear(3, 2, rng_or_seed=0, dtype=np.float64)).train(training)
    x, g = _x((4, 3)), _x((4, 2), seed=1)
    x_copy, g_copy = x.copy(), g.copy()
    net(x)
    net.backward(g)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(g, g_copy)


def test_replica_of_a_module_holding_one_layer_under_two_names_keeps_one_layer():
    class Tied(rlnn.Module):
        def __init__(self):
            self.first = rlnn.BatchNorm(3)
            self.again = self.first
            self.layers = [self.first, rlnn.Tanh()]

    original = Tied()
    twin = original.replica()
    assert twin.first is twin.again is twin.layers[0] and twin.first is not original.first
    assert twin.first.running_mean is original.first.running_mean     # buffers shared with the original
