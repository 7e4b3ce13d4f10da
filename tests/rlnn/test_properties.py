"""Property tests (hypothesis): shapes, dtypes, reductions and numerical stability."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rlnn
from rlnn import losses

FAST = settings(max_examples=30, deadline=None)
dims = st.integers(1, 6)
dtypes = st.sampled_from([np.float32, np.float64])


@FAST
@given(st.lists(dims, min_size=2, max_size=5), dims, dtypes,
       st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "identity"]),
       st.sampled_from(["identity", "softmax", "tanh", "sigmoid"]))
def test_mlp_shapes_and_dtypes(sizes, batch, dtype, activation, output):
    net = rlnn.MLP(sizes, activation=activation, output_activation=output, rng_or_seed=0, dtype=dtype)
    x = np.random.default_rng(0).standard_normal((batch, sizes[0]))
    y = net(x)
    assert y.shape == (batch, sizes[-1]) and y.dtype == dtype
    gx = net.backward(np.ones_like(y))
    assert gx.shape == x.shape and gx.dtype == dtype
    assert all(p.grad.shape == p.value.shape for p in net.parameters())
    assert len(net.parameters()) == 2 * (len(sizes) - 1)


@FAST
@given(dims, dims, dims, st.integers(0, 2 ** 32 - 1))
def test_linear_is_affine(n, i, o, seed):
    layer = rlnn.Linear(i, o, rng_or_seed=seed, dtype=np.float64)
    layer.bias.value = np.random.default_rng(seed).standard_normal(o)
    x = np.random.default_rng(seed + 1).standard_normal((n, i))
    np.testing.assert_allclose(layer(x), x @ layer.weight.value + layer.bias.value, rtol=1e-12)


elementwise = st.sampled_from([losses.SquaredError, losses.Huber, losses.BCEWithLogits])


@FAST
@given(elementwise, st.tuples(dims, dims), dtypes, st.integers(0, 1000))
def test_elementwise_losses_shapes_and_reductions(cls, shape, dtype, seed):
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal(shape).astype(dtype)
    target = rng.uniform(0, 1, shape) if cls is losses.BCEWithLogits else rng.standard_normal(shape)
    total, g_sum = cls(reduction="sum")(pred, target)
    mean, g_mean = cls(reduction="mean")(pred, target)
    assert isinstance(total, float) and g_sum.shape == pred.shape and g_sum.dtype == dtype
    np.testing.assert_allclose(mean * pred.size, total, rtol=1e-4)
    np.testing.assert_allclose(g_mean * pred.size, g_sum, rtol=1e-4, atol=1e-6)


@FAST
@given(st.tuples(dims, st.integers(2, 6)), st.floats(1.0, 1e4))
def test_softmax_and_cross_entropy_are_stable_for_huge_logits(shape, scale):
    logits = np.random.default_rng(0).standard_normal(shape) * scale
    probs = rlnn.Softmax()(logits)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    labels = np.arange(shape[0]) % shape[1]
    value, grad = losses.SoftmaxCrossEntropy()(logits, labels)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-9)  # softmax - one-hot sums to 0


@FAST
@given(hnp.arrays(np.float64, st.tuples(dims, dims), elements=st.floats(-1e4, 1e4)))
def test_bce_with_logits_is_stable(logits):
    value, grad = losses.BCEWithLogits()(logits, (logits > 0).astype(float))
    assert np.isfinite(value) and value >= 0
    assert np.all(np.abs(grad) <= 1.0)


@FAST
@given(st.tuples(dims, dims), st.tuples(dims, dims))
def test_losses_reject_any_shape_mismatch(a, b):
    if a == b:
        return
    for loss in (losses.SquaredError(), losses.Huber(), losses.BCEWithLogits()):
        try:
            loss(np.zeros(a), np.zeros(b))
        except ValueError as exc:
            assert str(a) in str(exc) and str(b) in str(exc)
        else:
            raise AssertionError(f"{loss!r} accepted shapes {a} and {b}")
