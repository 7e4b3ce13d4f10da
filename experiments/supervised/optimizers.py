"""Seed 001: optimiser trajectories on f(x, y) = x^2/20 + y^2 from (-7, 2).

    python -m experiments.supervised.optimizers [--out DIR]

Writes ``optimizer_paths.png``: one contour plot per optimiser with its first 30 steps. The
learning rates are those of "Deep Learning from Scratch" (SGD 0.95, Momentum 0.1,
AdaGrad 1.5, Adam 0.3) and 0.1 for RMSProp. SGD zig-zags across the narrow y direction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import rlnn
from rlnn import optim

from ._common import cli, pyplot

START = (-7.0, 2.0)
OPTIMIZERS = {
    "SGD": lambda p: optim.SGD(p, lr=0.95),
    "Momentum": lambda p: optim.Momentum(p, lr=0.1, momentum=0.9),
    "AdaGrad": lambda p: optim.AdaGrad(p, lr=1.5),
    "RMSProp": lambda p: optim.RMSProp(p, lr=0.1, alpha=0.9),
    "Adam": lambda p: optim.Adam(p, lr=0.3),
}


def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return x ** 2 / 20.0 + y ** 2


def trajectory(make_optimizer, steps: int = 30) -> np.ndarray:
    """Points visited, shape (steps + 1, 2), with the gradient (x/10, 2y) set by hand each step."""
    param = rlnn.Parameter(np.array(START))
    opt = make_optimizer([param])
    path = [param.value.copy()]
    for _ in range(steps):
        x, y = param.value
        param.grad = np.array([x / 10.0, 2.0 * y])
        opt.step()
        path.append(param.value.copy())
    return np.array(path)


def run(out_dir: Path, quick: bool = False) -> list[Path]:
    plt = pyplot()
    gx, gy = np.meshgrid(np.linspace(-10, 10, 200), np.linspace(-5, 5, 100))
    fig, axes = plt.subplots(1, len(OPTIMIZERS), figsize=(4 * len(OPTIMIZERS), 3.2), sharey=True)
    for ax, (name, make) in zip(axes, OPTIMIZERS.items()):
        path = trajectory(make)
        ax.contour(gx, gy, f(gx, gy), levels=np.geomspace(0.05, 30, 12), colors="0.75", linewidths=0.7)
        ax.plot(path[:, 0], path[:, 1], "o-", color="C3", ms=3, lw=1)
        ax.plot(0, 0, "+", color="k")
        ax.set(title=f"{name}: f = {f(*path[-1]):.3g}", xlabel="x", xlim=(-10, 10), ylim=(-5, 5))
    axes[0].set_ylabel("y")
    fig.suptitle("f(x, y) = x²/20 + y², 30 steps from (-7, 2)")
    fig.tight_layout()
    path = out_dir / "optimizer_paths.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [path]


def main(argv: list[str] | None = None) -> list[Path]:
    return cli(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
