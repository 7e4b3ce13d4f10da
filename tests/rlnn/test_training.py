"""fit, accuracy, Standardizer, train_test_split, and the toy datasets."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import rlnn
from rlnn import datasets


def test_fit_history_and_determinism():
    X, y = datasets.plane_pattern("linear", 120, np.random.default_rng(0))
    Xv, yv = datasets.plane_pattern("linear", 60, np.random.default_rng(1))

    def run():
        net = rlnn.MLP([2, 8, 1], activation="tanh", output_activation="tanh", rng_or_seed=0, dtype=np.float64)
        opt = rlnn.optim.Adam(net.parameters(), lr=0.02)
        seen = []
        hist = rlnn.fit(net, X, y, rlnn.losses.SquaredError(), opt, epochs=15, batch_size=16, rng=3,
                        validation=(Xv, yv), metric=rlnn.accuracy, callback=lambda e, h: seen.append(e))
        return net, hist, seen

    net, hist, seen = run()
    assert seen == list(range(15))
    assert len(hist.loss) == len(hist.val_loss) == len(hist.metric) == len(hist["val_metric"]) == 15
    assert hist.loss[-1] < 0.5 * hist.loss[0]
    assert hist.val_metric[-1] > 0.9
    net2, hist2, _ = run()
    assert hist2.loss == hist.loss  # same seeds, same run
    np.testing.assert_array_equal(net2.parameters()[0].value, net.parameters()[0].value)


def test_fit_full_batch_is_gradient_descent():
    X = np.linspace(-1, 1, 20)[:, None]
    y = 3 * X - 1
    net = rlnn.Linear(1, 1, rng_or_seed=0, dtype=np.float64)
    rlnn.fit(net, X, y, rlnn.losses.SquaredError(), rlnn.optim.SGD(net.parameters(), lr=0.3),
             epochs=200, batch_size=None, shuffle=False)
    np.testing.assert_allclose([net.weight.value.item(), net.bias.value.item()], [3, -1], atol=1e-6)


def test_fit_rejects_mismatched_data():
    net = rlnn.MLP([2, 1])
    opt = rlnn.optim.SGD(net.parameters())
    with pytest.raises(ValueError, match="3 samples but y has 2"):
        rlnn.fit(net, np.zeros((3, 2)), np.zeros((2, 1)), rlnn.losses.SquaredError(), opt, epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        rlnn.fit(net, np.zeros((3, 2)), np.zeros((3, 1)), rlnn.losses.SquaredError(), opt, epochs=1, batch_size=0)


def test_accuracy_conventions():
    assert rlnn.accuracy(np.array([[0.3], [0.2]]), np.array([[1.0], [-1.0]])) == 0.5       # signs for ±1
    assert rlnn.accuracy(np.array([[0.7], [0.2]]), np.array([[1.0], [0.0]])) == 1.0       # 0.5 for 0/1
    assert rlnn.accuracy(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1])) == 0.5     # argmax


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                  elements=st.floats(-1e6, 1e6)))
def test_standardizer_inverse(x):
    s = rlnn.Standardizer().fit(x)
    z = s.transform(x)
    np.testing.assert_allclose(s.inverse(z), x, rtol=1e-9, atol=1e-6)
    wide = np.ptp(x, axis=0) > 1e-3
    np.testing.assert_allclose(z.mean(axis=0)[wide], 0, atol=1e-6)


def test_standardizer_constant_column_and_unfitted():
    z = rlnn.Standardizer().fit_transform(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(z, [[-1, 0], [1, 0]])
    with pytest.raises(RuntimeError, match="before fit"):
        rlnn.Standardizer().transform(np.zeros((1, 1)))


def test_train_test_split():
    X, y = np.arange(20)[:, None], np.arange(20)
    Xtr, Xte, ytr, yte = rlnn.train_test_split(X, y, test_fraction=0.25, rng=0)
    assert len(Xte) == 5 and len(Xtr) == 15
    np.testing.assert_array_equal(Xtr[:, 0], ytr)
    assert sorted(np.concatenate([ytr, yte])) == list(range(20))
    with pytest.raises(ValueError, match="test_fraction"):
        rlnn.train_test_split(X, y, test_fraction=1.0)


# -- datasets -----------------------------------------------------------------------------------

def test_logic_gates():
    X, y = datasets.logic_gate("xor")
    assert X.shape == (4, 2) and y.shape == (4, 1)
    np.testing.assert_array_equal(y[:, 0], (X[:, 0] != X[:, 1]).astype(float))
    np.testing.assert_array_equal(datasets.logic_gate("NAND")[1], 1 - datasets.logic_gate("AND")[1])
    with pytest.raises(ValueError, match="unknown logic gate"):
        datasets.logic_gate("XNOR")


@pytest.mark.parametrize("name", list(datasets.PLANE_PATTERNS))
def test_plane_patterns(name):
    X, y = datasets.plane_pattern(name, 300, np.random.default_rng(5))
    X2, _ = datasets.plane_pattern(name, 300, np.random.default_rng(5))
    np.testing.assert_array_equal(X, X2)
    assert X.shape == (300, 2) and y.shape == (300, 1)
    assert np.all(np.abs(X) <= 1) and set(np.unique(y)) == {-1.0, 1.0}
    assert 0.15 < (y > 0).mean() < 0.85  # both colours well represented
    np.testing.assert_array_equal(datasets.plane_label(name, X), y)


def test_plane_patterns_differ_and_reject_unknown_names():
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 30), np.linspace(-1, 1, 30)), -1).reshape(-1, 2)
    labels = [datasets.plane_label(n, grid) for n in datasets.PLANE_PATTERNS]
    for i in range(len(labels)):
        for j in range(i):
            assert (labels[i] != labels[j]).mean() > 0.1
    with pytest.raises(ValueError, match="unknown plane pattern"):
        datasets.plane_pattern("spiral", 10, 0)


def test_noisy_sine_leaves_global_random_state_alone():
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    datasets.noisy_sine()
    datasets.noisy_sine_notebook_weights()
    assert np.random.random() == expected


# -- the package itself ---------------------------------------------------------------------

def test_import_rlnn_pulls_in_numpy_only():
    code = ("import sys, rlnn, rlnn.datasets, rlnn.gradcheck; "
            "bad = [m for m in ('gymnasium', 'pymunk', 'matplotlib', 'pygame', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=_repo_root())
    assert result.returncode == 0, result.stdout + result.stderr


def _repo_root():
    from pathlib import Path
    return Path(__file__).resolve().parents[2]
