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
                            "plane_circles.gif", "plane_mixed.gif"])
    for p in paths:
        assert p.exists() and 1000 < p.stat().st_size < 1_500_000


def test_sgd_zigzags_and_the_others_do_not():
    sgd = optimizers.trajectory(optimizers.OPTIMIZERS["SGD"])
    adagrad = optimizers.trajectory(optimizers.OPTIMIZERS["AdaGrad"])
    assert np.all(np.sign(sgd[:10, 1]) == (-1.0) ** np.arange(10))  # y flips sign every step
    assert np.all(adagrad[1:10, 1] > 0)
