"""Seeds 000 and 002: sigmoid vs ReLU with their derivatives, and what initialisation does to
the activations of a deep network.

    python -m experiments.supervised.activations [--out DIR]

Writes ``activation_functions.png`` (the derivatives come from rlnn's own ``backward``:
sigmoid's never exceeds 0.25, which is why gradients vanish through many sigmoid layers) and
``activation_histograms.png``: 1000 standard-normal inputs through 5 layers of 100 units,
one histogram per layer, for each initialiser: uniform(-1, 1) and N(0, 1) saturate tanh or
blow ReLU up; Xavier keeps tanh spread out and He keeps ReLU's scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import rlnn

from ._common import cli, pyplot

CASES = [("tanh", "uniform"), ("tanh", "normal"), ("tanh", "xavier_normal"),
         ("relu", "uniform"), ("relu", "xavier_normal"), ("relu", "he_normal")]


def derivative(layer: rlnn.Module, x: np.ndarray) -> np.ndarray:
    """dy/dx of an element-wise layer, by back-propagating ones."""
    layer(x[:, None])
    return layer.backward(np.ones((len(x), 1)))[:, 0]


def layer_outputs(activation: str, init: str, depth: int = 5, width: int = 100, seed: int = 0) -> list[np.ndarray]:
    net = rlnn.MLP([width] * (depth + 1), activation=activation, output_activation=activation,
                   init=init, rng_or_seed=seed, dtype=np.float64)
    h = np.random.default_rng(seed + 1).standard_normal((1000, width))
    outs = []
    for layer in net.layers:
        h = layer(h)
        if not isinstance(layer, rlnn.Linear):
            outs.append(h)
    return outs


def plot_functions(plt, path: Path) -> Path:
    x = np.linspace(-6, 6, 400)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, (name, layer) in zip(axes, (("sigmoid", rlnn.Sigmoid()), ("ReLU", rlnn.ReLU()))):
        ax.plot(x, layer(x[:, None])[:, 0], label=name)
        ax.plot(x, derivative(layer, x), "--", label=f"{name}' (max {derivative(layer, x).max():.2f})")
        ax.axhline(0, color="0.8", lw=0.7)
        ax.set(xlabel="x", title=name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_histograms(plt, path: Path) -> Path:
    fig, axes = plt.subplots(2, 3, figsize=(12, 5.5))
    for ax, (activation, init) in zip(axes.ravel(), CASES):
        outs = layer_outputs(activation, init)
        hi = 1.0 if activation == "tanh" else max(max(float(np.percentile(h, 99.5)) for h in outs), 1e-3)
        bins = np.linspace(-1 if activation == "tanh" else 0, hi, 40)
        for i, h in enumerate(outs):
            ax.hist(np.clip(h.ravel(), bins[0], bins[-1]), bins=bins, histtype="step", lw=1.2,
                    label=f"layer {i + 1}: std {h.std():.2g}")
        ax.set(title=f"{activation}, {init}", yticks=[])
        ax.legend(fontsize=7)
    fig.suptitle("activations of 5 layers of 100 units for 1000 N(0, 1) inputs")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def run(out_dir: Path, quick: bool = False) -> list[Path]:
    plt = pyplot()
    return [plot_functions(plt, out_dir / "activation_functions.png"),
            plot_histograms(plt, out_dir / "activation_histograms.png")]


def main(argv: list[str] | None = None) -> list[Path]:
    return cli(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
