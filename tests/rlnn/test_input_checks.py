"""Every entry point of the network refuses bad input with one clear error (issue 17), and
accepts what a numpy user would hand it (nested lists, integer arrays)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlnn
from rlnn import losses, optim, schedules

FAST = settings(max_examples=60, deadline=None)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text, f"not a one-line message: {text!r}"
    return text


# -- construction --------------------------------------------------------------------------

@pytest.mark.parametrize("sizes, error, words", [
    ([4, 2.7], TypeError, "positive integer"), ([4, 2.0], TypeError, "positive integer"),
    ([4, 0], ValueError, "positive integer"), ([4, -3], ValueError, "positive integer"),
    ([4, True], TypeError, "positive integer"), ([4, "8"], TypeError, "positive integer"),
    ([4, None], TypeError, "positive integer"), ("48", TypeError, "list of positive integers"),
    ([4], ValueError, "at least an input and an output"), (5, TypeError, "list of positive integers"),
])
def test_mlp_refuses_bad_sizes(sizes, error, words):
    with pytest.raises(error, match=words) as info:
        rlnn.MLP(sizes)
    one_line(info.value)


def test_mlp_accepts_numpy_integer_sizes():
    assert rlnn.MLP(np.array([3, 5, 2])).sizes == [3, 5, 2]


@pytest.mark.parametrize("n_in, n_out, kwargs, error", [
    (2.5, 3, {}, TypeError), (0, 3, {}, ValueError), (3, -1, {}, ValueError), (3, 2, {"dtype": np.int32}, TypeError),
    (3, 2, {"dtype": "nonsense"}, TypeError), (True, 2, {}, TypeError),
])
def test_linear_refuses_bad_arguments(n_in, n_out, kwargs, error):
    with pytest.raises(error) as info:
        rlnn.Linear(n_in, n_out, **kwargs)
    one_line(info.value)


def test_other_constructors_refuse_non_finite_numbers():
    for make in (lambda: rlnn.LeakyReLU(math.nan), lambda: losses.Huber(delta=math.nan),
                 lambda: losses.Huber(delta=0), lambda: schedules.Linear(1.0, math.nan, 10),
                 lambda: schedules.StepDecay(1.0, 0.5, every=0), lambda: schedules.Cosine(1.0, 0.0, 2.5)):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError, match="schedule Linear"):
        schedules.schedule_from_config({"type": "Linear", "start": 1.0})


# -- optimisers ----------------------------------------------------------------------------

OPTIMIZERS = [optim.SGD, optim.Momentum, optim.AdaGrad, optim.RMSProp, optim.Adam]
BAD_NUMBERS = [-0.1, math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("lr", [*BAD_NUMBERS, 0.0, "0.01", True, None], ids=repr)
def test_optimizers_refuse_bad_learning_rates(cls, lr):
    with pytest.raises((ValueError, TypeError), match="learning rate") as info:
        cls(rlnn.MLP([2, 1]).parameters(), lr=lr)
    one_line(info.value)


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_optimizers_refuse_bad_weight_decay_and_eps(cls, value):
    params = rlnn.MLP([2, 1]).parameters()
    with pytest.raises(ValueError, match="weight_decay"):
        cls(params, lr=0.1, weight_decay=value)
    if cls in (optim.AdaGrad, optim.RMSProp, optim.Adam):
        with pytest.raises(ValueError, match="eps"):
            cls(params, lr=0.1, eps=value)


@pytest.mark.parametrize("make", [
    lambda p: optim.Momentum(p, momentum=1.0), lambda p: optim.Momentum(p, momentum=-0.5),
    lambda p: optim.Momentum(p, momentum=0.0, nesterov=True), lambda p: optim.RMSProp(p, alpha=1.0),
    lambda p: optim.RMSProp(p, alpha=math.nan), lambda p: optim.Adam(p, betas=(0.9,)),
    lambda p: optim.Adam(p, betas=(1.0, 0.999)), lambda p: optim.Adam(p, betas=(0.9, math.nan)),
    lambda p: optim.Adam(p, weight_decay=-1.0, decoupled=True),
])
def test_optimizers_refuse_out_of_range_hyperparameters(make):
    with pytest.raises(ValueError) as info:
        make(rlnn.MLP([2, 1]).parameters())
    one_line(info.value)


def test_schedules_stay_allowed_and_a_bad_schedule_value_is_an_error():
    net = rlnn.MLP([2, 1])
    opt = optim.SGD(net.parameters(), lr=schedules.Linear(0.1, 0.0, 10))
    opt.step()
    opt.lr = 0.0                           # a decay the caller drives may reach 0
    with pytest.raises(ValueError, match="learning rate"):
        opt.lr = math.nan                  # ... but not NaN
    opt.lr = lambda t: math.nan
    with pytest.raises(ValueError, match="schedule returned nan"):
        opt.step()
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(net.parameters(), math.nan)


def test_optimizer_state_refuses_bad_values_all_or_nothing():
    net = rlnn.MLP([2, 3, 1], rng_or_seed=0)
    opt = optim.Adam(net.parameters(), lr=0.01)
    good = opt.state_dict()
    for key, value in [("0.exp_sum", np.nan), ("1.exp_sum_sq", -1.0), ("0.exp_sum", 1e300)]:
        bad = {"t": 3, "state": {k: v.astype(np.float64) for k, v in good["state"].items()}}
        bad["state"][key] = np.full_like(bad["state"][key], value)
        with pytest.raises(ValueError) as info:
            opt.load_state_dict(bad)
        one_line(info.value)
    for t in (-1, 2.5, True, 10**30, "3"):
        with pytest.raises(ValueError, match="step count"):
            opt.load_state_dict({"t": t, "state": good["state"]})
    assert opt.t == 0 and all((v == 0).all() for v in opt.state_dict()["state"].values())


# -- loading parameters --------------------------------------------------------------------

@pytest.mark.parametrize("value, words", [
    (np.nan, "non-finite"), (np.inf, "non-finite"), (1e300, "too large for float32"),
])
def test_load_state_dict_refuses_non_finite_and_overflowing_values(value, words):
    net = rlnn.MLP([2, 3, 1], rng_or_seed=0)
    before = net.state_dict()
    state = {k: v.astype(np.float64) for k, v in before.items()}
    state["2.weight"] = state["2.weight"].copy()
    state["2.weight"][1, 0] = value
    with pytest.raises(ValueError, match=words) as info:
        net.load_state_dict(state)
    assert "2.weight" in one_line(info.value)
    for name, arr in net.state_dict().items():      # nothing was loaded, not even the good entries
        np.testing.assert_array_equal(arr, before[name])


def test_load_state_dict_refuses_wrong_shapes_dtypes_and_types():
    net = rlnn.MLP([2, 3, 1], rng_or_seed=0)
    state = net.state_dict()
    for name, bad in [("0.weight", np.zeros((3, 2))), ("0.bias", np.array(["a", "b", "c"])),
                      ("0.bias", np.ones(3, dtype=complex)), ("0.bias", np.ones(3, dtype=bool)),
                      ("0.bias", [[1, 2], [3]])]:
        with pytest.raises(ValueError) as info:
            net.load_state_dict({**state, name: bad})
        one_line(info.value)
    with pytest.raises(TypeError):
        net.load_state_dict([("0.weight", state["0.weight"])])
    with pytest.raises(ValueError, match="non-finite"):
        net.parameters()[0].value = np.full((2, 3), np.nan)


# -- forward, predict, backward ------------------------------------------------------------

def test_array_likes_are_accepted_like_arrays():
    layer = rlnn.Linear(4, 2, rng_or_seed=0)
    rows = [[1, 2, 3, 4]]
    expected = layer(np.array(rows, dtype=np.float32))
    np.testing.assert_array_equal(layer.forward(rows), expected)
    np.testing.assert_array_equal(layer.predict(((1, 2, 3, 4),)), expected)
    net = rlnn.MLP([4, 3, 2], rng_or_seed=0)
    np.testing.assert_array_equal(net(rows), net(np.array(rows, dtype=np.float32)))
    np.testing.assert_array_equal(net.predict(rows), net(rows))
    assert net.backward([[1.0, 1.0]]).shape == (1, 4)
    assert rlnn.ReLU()([[-1.0, 2.0]]).tolist() == [[0.0, 2.0]]


def test_layers_of_a_sequential_that_do_not_fit_are_named():
    seq = rlnn.Sequential(rlnn.Linear(2, 3), rlnn.ReLU(), rlnn.Linear(4, 1))
    with pytest.raises(ValueError, match=r"Linear\(4, 1\) inside a Sequential expects its input of shape \(batch, 4\)"):
        seq(np.zeros((1, 2)))
    nested = rlnn.Sequential(rlnn.Linear(2, 3), rlnn.MLP([4, 2]))
    for entry in (nested.forward, nested.predict):
        with pytest.raises(ValueError, match=r"MLP\(4, 2\) inside a Sequential expects its input of shape"):
            entry(np.zeros((1, 2)))


@pytest.mark.parametrize("bad, error, words", [
    ([[1, 2], [3]], ValueError, "rectangular"), ([["a", "b", "c"]], TypeError, "real numeric"),
    ([[None, 1, 2]], TypeError, "real numeric"), (np.zeros((2, 3, 1)), ValueError, "expects input of shape"),
    (np.zeros(3), ValueError, r"x\[None\]"), (np.zeros((2, 4)), ValueError, r"\(batch, 3\), got \(2, 4\)"),
    ({"x": 1}, TypeError, "real numeric"), ([[1, 2, np.nan]], ValueError, "non-finite"),
])
def test_entry_points_name_the_problem(bad, error, words):
    net = rlnn.MLP([3, 4, 1], rng_or_seed=0)
    entries = [net, net.predict, net.layers[0].forward, net.layers[0].predict,
               rlnn.Sequential(rlnn.Linear(3, 2), rlnn.Tanh()).forward]
    for entry in entries:
        with pytest.raises(error, match=words) as info:
            entry(bad)
        one_line(info.value)


def _entry_points(width: int, dtype: np.dtype) -> list:
    net = rlnn.MLP([width, 5, 2], activation="tanh", rng_or_seed=0, dtype=dtype)
    seq = rlnn.Sequential(rlnn.Linear(width, 3, dtype=dtype), rlnn.ReLU(), rlnn.Linear(3, 1, dtype=dtype))
    return [net.forward, net.predict, net.__call__, seq.forward, seq.predict,
            net.layers[0].forward, net.layers[0].predict]


@FAST
@given(width=st.integers(1, 6), batch=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]),
       shape=st.lists(st.integers(0, 7), min_size=0, max_size=4))
def test_any_wrong_shape_is_a_clear_value_error(width, batch, dtype, shape):
    shape = tuple(shape)
    if len(shape) == 2 and shape[1] == width:
        shape = (shape[0], width + 1)
    x = np.zeros(shape)
    for entry in _entry_points(width, np.dtype(dtype)):
        with pytest.raises(ValueError, match=rf"expects input of shape \(batch, {width}\)") as info:
            entry(x)
        one_line(info.value)


@FAST
@given(width=st.integers(1, 6), batch=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]),
       bad_dtype=st.sampled_from(["U3", "S2", "O", "c8", "c16", "M8[s]", "m8[s]", "V4"]))
def test_any_non_numeric_dtype_is_a_clear_type_error(width, batch, dtype, bad_dtype):
    x = np.zeros((batch, width), dtype=bad_dtype)
    for entry in _entry_points(width, np.dtype(dtype)):
        with pytest.raises(TypeError, match="real numeric") as info:
            entry(x)
        one_line(info.value)


@FAST
@given(width=st.integers(1, 6), batch=st.integers(1, 5), dtype=st.sampled_from([np.float32, np.float64]),
       in_dtype=st.sampled_from([np.float16, np.float32, np.float64]),
       value=st.sampled_from([np.nan, np.inf, -np.inf]), where=st.integers(0, 10**6))
def test_any_non_finite_input_is_a_clear_value_error(width, batch, dtype, in_dtype, value, where):
    x = np.random.default_rng(where).standard_normal((batch, width)).astype(in_dtype)
    x.flat[where % x.size] = value
    for entry in _entry_points(width, np.dtype(dtype)):
        with pytest.raises(ValueError, match="1 non-finite value") as info:
            entry(x)
        one_line(info.value)


@FAST
@given(width=st.integers(1, 6), batch=st.integers(0, 5), dtype=st.sampled_from([np.float32, np.float64]),
       in_dtype=st.sampled_from([np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64, bool]))
def test_any_valid_numeric_input_is_accepted_and_converted(width, batch, dtype, in_dtype):
    x = np.ones((batch, width), dtype=in_dtype)
    for entry in _entry_points(width, np.dtype(dtype)):
        y = entry(x)
        assert y.shape[0] == batch and y.dtype == dtype and np.isfinite(y).all()
        if batch:
            assert entry(x.tolist()).shape == y.shape


def test_finite_values_whose_sum_overflows_are_still_accepted():
    net = rlnn.MLP([2, 1], rng_or_seed=0, dtype=np.float32)
    x = np.full((64, 2), 3e38, dtype=np.float32)        # the cheap check's sum overflows; the values are finite
    with np.errstate(over="ignore"):
        assert net(x).shape == (64, 1)


def test_dead_code_is_gone():
    """Removed in issue 17: names nothing used (the gradient checker is check_module)."""
    import rlnn.gradcheck
    import rlnn.module
    assert not hasattr(rlnn.module, "Initializer")
    assert not hasattr(rlnn.losses, "LOSSES")
    assert not hasattr(rlnn.gradcheck, "gradcheck") and callable(rlnn.gradcheck.check_module)
    assert not hasattr(optim.Adam, "_legacy_names")
