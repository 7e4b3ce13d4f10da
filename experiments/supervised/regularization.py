"""Seed 001's empty chapter: batch normalization against slow training, dropout and weight decay
against overfitting.

    python -m experiments.supervised.regularization [--out DIR] [--quick]

Prints two tables and writes ``regularization.png`` (held-out accuracy per epoch, left; the
overfitting fits, middle; their test error per epoch, right).

1. **Slow training.** A deep sigmoid network, 2-32-32-32-32-1 with a tanh output, learns seed
   000's "mixed" plane pattern (400 points) by plain SGD (η 0.5, batches of 20). Each sigmoid
   passes on at most a quarter of the gradient (seed 002), so without normalization the first
   layers barely move and the network stays at the majority colour; with batch norm before
   each sigmoid it learns the pattern.
2. **Overfitting.** 15 points of ``sin(2πx) + N(0, 0.25²)`` on [0, 1], a 1-256-256-1 tanh
   network, full-batch Adam (η 0.003) for 3000 epochs. Unregularized it threads every noisy
   point and its error against the true curve grows as it does; dropout (p 0.1) and AdamW's
   decoupled weight decay (λ 1, ``Adam(decoupled=True)``) keep it near the curve.

Held-out accuracy and test error are measured with ``predict``, i.e. in eval mode (running
statistics, no dropout). Medians over seeds 0-2 (the full run: 3 minutes of CPU):

==================  =========  =========  =========  ===================
held-out accuracy   epoch 5    epoch 20   epoch 60   first epoch ≥ 0.85
==================  =========  =========  =========  ===================
no normalization    0.627      0.627      0.627      not reached (the majority colour)
batch norm          0.814      0.838      0.908      23
==================  =========  =========  =========  ===================

==================  ==================  ==================  ==========================
squared error       train (noisy)       test (true curve)   best test while training
==================  ==================  ==================  ==========================
no regularization   0.0023              0.135               0.057
dropout 0.1         0.020               0.046               0.023
weight decay 1      0.017               0.021               0.017
==================  ==================  ==================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import rlnn
from rlnn import datasets

from ._common import cli, pyplot

SEEDS = (0, 1, 2)
# 1. slow training
PATTERN = "mixed"
DEEP_SIZES = [2, 32, 32, 32, 32, 1]
SGD_LR = 0.5
BATCH = 20
TRAIN_EPOCHS = 60
TARGET_ACCURACY = 0.85
# 2. overfitting
N_POINTS, NOISE = 15, 0.25
WIDE_SIZES = [1, 256, 256, 1]
ADAM_LR = 0.003
FIT_EPOCHS = 3000
REGULARIZERS = {            # name -> (dropout p, decoupled weight decay λ)
    "none": (0.0, 0.0),
    "dropout 0.1": (0.1, 0.0),
    "weight decay 1": (0.0, 1.0),
}


def accuracy_curves(norm: str | None, seed: int, epochs: int = TRAIN_EPOCHS) -> np.ndarray:
    """Held-out accuracy (eval mode, 2000 fresh points) after each of ``epochs`` epochs of SGD
    on the plane pattern, for the deep sigmoid network with ``norm`` (``None`` or ``"batch"``)."""
    X, y = datasets.plane_pattern(PATTERN, 400, np.random.default_rng(0))
    X_test, y_test = datasets.plane_pattern(PATTERN, 2000, np.random.default_rng(1))
    net = rlnn.MLP(DEEP_SIZES, activation="sigmoid", output_activation="tanh", norm=norm, rng_or_seed=seed)
    curve: list[float] = []
    rlnn.fit(net, X, y, rlnn.losses.SquaredError(), rlnn.optim.SGD(net.parameters(), lr=SGD_LR), epochs=epochs,
             batch_size=BATCH, rng=seed, callback=lambda epoch, history: curve.append(
                 rlnn.accuracy(net.predict(X_test), y_test)))
    return np.array(curve)


def sine_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x, t, x_test, t_test)``: the noisy training points and the true curve on a grid."""
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0.0, 1.0, (N_POINTS, 1)), axis=0)
    t = np.sin(2 * np.pi * x) + rng.normal(0.0, NOISE, x.shape)
    x_test = np.linspace(0.0, 1.0, 400)[:, None]
    return x, t, x_test, np.sin(2 * np.pi * x_test)


@dataclass
class Fit:
    train_error: float            # mean squared error on the noisy training points
    test_curve: np.ndarray        # mean squared error against the true curve, every 10 epochs
    prediction: np.ndarray        # the fitted curve on the test grid


def fit_sine(dropout: float, weight_decay: float, seed: int, epochs: int = FIT_EPOCHS) -> Fit:
    """Full-batch Adam on the 15 noisy points with the given regularization."""
    x, t, x_test, t_test = sine_data()
    net = rlnn.MLP(WIDE_SIZES, activation="tanh", dropout=dropout, rng_or_seed=seed)
    opt = rlnn.optim.Adam(net.parameters(), lr=ADAM_LR, weight_decay=weight_decay, decoupled=True)
    loss = rlnn.losses.SquaredError()
    curve: list[float] = []

    def record(epoch: int, history: rlnn.History) -> None:
        if epoch % 10 == 9 or epoch == epochs - 1:
            curve.append(loss(net.predict(x_test), t_test)[0])

    rlnn.fit(net, x, t, loss, opt, epochs=epochs, batch_size=None, shuffle=False, rng=seed, callback=record)
    return Fit(loss(net.predict(x), t)[0], np.array(curve), net.predict(x_test))


def first_epoch_at(curve: np.ndarray, level: float) -> int | None:
    """The first epoch (counted from 1) whose value reaches ``level``, or ``None``."""
    hits = np.flatnonzero(curve >= level)
    return int(hits[0]) + 1 if hits.size else None


def run(out_dir: Path, quick: bool = False) -> list[Path]:
    seeds = SEEDS[:1] if quick else SEEDS
    train_epochs, fit_epochs = (3, 20) if quick else (TRAIN_EPOCHS, FIT_EPOCHS)

    curves = {norm: np.array([accuracy_curves(norm, s, train_epochs) for s in seeds]) for norm in (None, "batch")}
    print(f"\nslow training: {'-'.join(map(str, DEEP_SIZES))} sigmoid, SGD η {SGD_LR}, '{PATTERN}' pattern, "
          f"held-out accuracy (median of {len(seeds)} seed(s))")
    marks = [e for e in (5, 10, 20, train_epochs) if e <= train_epochs]
    print("| norm | " + " | ".join(f"epoch {e}" for e in marks) + f" | first epoch ≥ {TARGET_ACCURACY} |")
    print("|---|" + "---|" * (len(marks) + 1))
    for norm, runs in curves.items():
        median = np.median(runs, axis=0)
        reached = first_epoch_at(median, TARGET_ACCURACY)
        print(f"| {norm or 'none'} | " + " | ".join(f"{median[e - 1]:.3f}" for e in marks)
              + f" | {reached if reached else 'not reached'} |")

    fits = {name: [fit_sine(p, wd, s, fit_epochs) for s in seeds] for name, (p, wd) in REGULARIZERS.items()}
    print(f"\noverfitting: {N_POINTS} noisy points of sin(2πx), {'-'.join(map(str, WIDE_SIZES))} tanh, "
          f"Adam η {ADAM_LR}, {fit_epochs} epochs, mean squared error (median of {len(seeds)} seed(s))")
    print("| regularization | train (noisy points) | test (true curve) | best test during training |")
    print("|---|---|---|---|")
    for name, runs in fits.items():
        print(f"| {name} | {np.median([f.train_error for f in runs]):.4f} | "
              f"{np.median([f.test_curve[-1] for f in runs]):.4f} | "
              f"{np.median([f.test_curve.min() for f in runs]):.4f} |")
    return [plot(curves, fits, out_dir)]


def plot(curves: dict[str | None, np.ndarray], fits: dict[str, list[Fit]], out_dir: Path) -> Path:
    plt = pyplot()
    x, t, x_test, t_test = sine_data()
    fig, (ax_acc, ax_fit, ax_err) = plt.subplots(1, 3, figsize=(15, 4))
    for (norm, runs), color in zip(curves.items(), ("C3", "C0")):
        epochs = np.arange(1, runs.shape[1] + 1)
        ax_acc.plot(epochs, np.median(runs, axis=0), color=color, label=f"norm={norm}")
        ax_acc.fill_between(epochs, runs.min(axis=0), runs.max(axis=0), color=color, alpha=0.2)
    ax_acc.set(xlabel="epoch", ylabel="held-out accuracy", title="deep sigmoid net, SGD: batch norm")
    ax_acc.legend(fontsize=8)
    ax_fit.scatter(x, t, facecolor="none", edgecolor="k", s=30, label="training points")
    ax_fit.plot(x_test, t_test, color="k", lw=1, ls="--", label="truth sin(2πx)")
    for (name, runs), color in zip(fits.items(), ("C3", "C1", "C2")):
        ax_fit.plot(x_test, runs[0].prediction, color=color, label=name)
        steps = np.arange(1, len(runs[0].test_curve) + 1) * 10
        ax_err.plot(steps, np.median([f.test_curve for f in runs], axis=0), color=color, label=name)
    ax_fit.set(xlabel="x", ylabel="t", title="15 noisy points, 1-256-256-1 tanh (seed 0)")
    ax_fit.legend(fontsize=8)
    ax_err.set(xlabel="epoch", ylabel="squared error against the truth", yscale="log",
               title="test error while training")
    ax_err.legend(fontsize=8)
    fig.tight_layout()
    path = out_dir / "regularization.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> list[Path]:
    return cli(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
