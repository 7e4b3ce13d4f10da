"""The supervised demos run end to end through `rlnn demo` (quick mode) and write small images."""

import numpy as np
import pytest

from experiments.supervised import optimizers


def test_run_all_quick_writes_every_image(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    from experiments.cli import main
    assert main(["demo", "--out", str(tmp_path / "out"), "--quick"]) == 0
    paths = sorted((tmp_path / "out").iterdir())
    names = sorted(p.name for p in paths)
    assert names == sorted(["sine_fit.png", "optimizer_paths.png", "activation_functions.png",
                            "activation_histograms.png", "plane_linear.gif", "plane_stripes.gif",
                            "plane_circles.gif", "plane_mixed.gif", "regularization.png"])
    for p in paths:
        assert p.exists() and 1000 < p.stat().st_size < 1_500_000


def test_sgd_zigzags_and_the_others_do_not():
    sgd = optimizers.trajectory(optimizers.OPTIMIZERS["SGD"])
    adagrad = optimizers.trajectory(optimizers.OPTIMIZERS["AdaGrad"])
    assert np.all(np.sign(sgd[:10, 1]) == (-1.0) ** np.arange(10))  # y flips sign every step
    assert np.all(adagrad[1:10, 1] > 0)


def test_regularization_demo_quick_prints_both_tables_and_writes_its_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from experiments.supervised import regularization
    paths = regularization.run(tmp_path, quick=True)
    assert [p.name for p in paths] == ["regularization.png"] and 1000 < paths[0].stat().st_size < 1_500_000
    out = capsys.readouterr().out
    for row in ("| none |", "| batch |", "| dropout 0.1 |", "| weight decay 1 |"):
        assert row in out


def test_batch_norm_trains_the_deep_sigmoid_network_that_plain_sgd_cannot():
    """The demo's first claim on a small budget (5 epochs, seed 0): without normalization the
    network stays at the majority colour (63% of the held-out points), with it it learns."""
    from experiments.supervised import regularization
    plain = regularization.accuracy_curves(None, seed=0, epochs=5)
    normed = regularization.accuracy_curves("batch", seed=0, epochs=5)
    assert plain.max() < 0.65 < 0.75 < normed[-1]
