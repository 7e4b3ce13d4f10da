"""Bad input raises a clear error that names the problem."""

import numpy as np
import pytest

import rlnn
from rlnn import losses


def test_wrong_input_width():
    net = rlnn.MLP([3, 4, 1], rng_or_seed=0)
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 3\), got \(2, 4\)"):
        net(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        net(np.zeros(3))
    with pytest.raises(ValueError, match=r"Linear\(3, 4\) expects"):
        rlnn.Linear(3, 4)(np.zeros((2, 5), dtype=np.float32))


def test_wrong_dtype():
    net = rlnn.MLP([2, 1], rng_or_seed=0)
    with pytest.raises(TypeError, match="real numeric"):
        net(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="real numeric"):
        net(np.ones((1, 2), dtype=complex))
    assert net(np.ones((1, 2), dtype=np.int64)).dtype == np.float32  # integers are converted
    with pytest.raises(TypeError, match="floating"):
        rlnn.MLP([2, 1], dtype=np.int32)
    with pytest.raises(TypeError, match="floating-point"):
        rlnn.Parameter(np.zeros(3, dtype=int))


def test_non_finite_input_is_refused_and_gradients_checked_when_asked():
    net = rlnn.MLP([2, 3, 1], rng_or_seed=0)
    bad = np.array([[np.nan, 1.0]])
    with pytest.raises(ValueError, match=r"MLP\(2, 3, 1\) input contains 1 non-finite"):
        net(bad)             # always: a NaN observation must not turn into a silent NaN action
    with pytest.raises(ValueError, match="non-finite"):
        net.predict(np.array([[np.inf, 1.0]]))
    with pytest.raises(ValueError, match="non-finite"):    # float64 1e300 overflows the float32 net
        net(np.array([[1e300, 1.0]]))
    net.check_finite = True                                # gradients: checked when asked
    net(np.ones((1, 2)))
    with pytest.raises(ValueError, match="gradient passed to backward"):
        net.backward(np.array([[np.inf]]))
    with pytest.raises(ValueError, match="loss prediction"):
        losses.check_loss_inputs(bad, bad)
    with pytest.raises(ValueError, match="X contains"):
        rlnn.fit(net, bad, np.ones((1, 1)), losses.SquaredError(), rlnn.optim.SGD(net.parameters()), epochs=1)


@pytest.mark.parametrize("loss", [losses.SquaredError(), losses.Huber(), losses.BCEWithLogits()], ids=repr)
def test_loss_shape_mismatch(loss):
    with pytest.raises(ValueError, match=r"prediction has shape \(4, 1\) but target has shape \(4,\)"):
        loss(np.zeros((4, 1)), np.zeros(4))


def test_cross_entropy_bad_targets():
    ce = losses.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match="labels must lie in"):
        ce(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        ce(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="2 rows of logits but 3 labels"):
        ce(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="one-hot"):
        ce(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="reduction"):
        losses.SquaredError(reduction="avg")


def test_bad_construction_and_state():
    with pytest.raises(ValueError, match="at least an input and an output"):
        rlnn.MLP([3])
    with pytest.raises(ValueError, match="unknown activation"):
        rlnn.MLP([3, 2], activation="swish")
    with pytest.raises(TypeError, match="Module instances"):
        rlnn.Sequential(rlnn.Linear(2, 2), "relu")
    net = rlnn.MLP([3, 2])
    with pytest.raises(ValueError, match="unexpected"):
        net.load_state_dict({**net.state_dict(), "9.weight": np.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        net.parameters()[0].value = np.zeros((2, 3))
    with pytest.raises(RuntimeError, match="before forward"):
        rlnn.Linear(2, 2).backward(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="unknown module type"):
        rlnn.module_from_config({"type": "Conv2d"})
