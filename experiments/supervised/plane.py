"""Seed 000: colour the plane red or blue, and watch the decision region learn.

    python -m experiments.supervised.plane [--out DIR] [--pattern NAME]

For each of the four patterns (linearly separable, stripes, two asymmetric circles, straight
and curved borders mixed) an MLP 2-32-32-1 with tanh units and a tanh output in [-1, 1]
(-1 blue, +1 red) is trained with Adam on 400 points, and ``plane_<name>.gif`` shows the
target (left) beside the network's colouring of the plane (right) as it learns. Frames are
spaced geometrically in epochs, so the fast early changes are visible (the seed sped its
videos up midway instead). Held-out accuracy on 2000 fresh points is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import rlnn
from rlnn import datasets

from ._common import DEFAULT_OUT

PANEL = 160         # pixels per panel; the GIF is two panels wide
GRID = 80           # the network is evaluated on GRID x GRID points, then scaled up
LEVELS = 24         # colour levels: a small palette keeps the GIF small
BLUE, WHITE, RED = np.array([45, 95, 215.0]), np.array([245, 245, 245.0]), np.array([215, 50, 45.0])


def colour(values: np.ndarray) -> np.ndarray:
    """Map outputs in [-1, 1] of shape (h, w) to RGB uint8 (h, w, 3): blue, white at 0, red."""
    v = np.round(np.clip(values, -1, 1) * (LEVELS / 2)) / (LEVELS / 2)
    v = v[..., None]
    rgb = np.where(v < 0, WHITE + (BLUE - WHITE) * -v, WHITE + (RED - WHITE) * v)
    return rgb.astype(np.uint8)


def panel(values: np.ndarray, X: np.ndarray, y: np.ndarray):
    from PIL import Image, ImageDraw
    img = Image.fromarray(colour(values[::-1])).resize((PANEL, PANEL), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    px = (X + 1) / 2 * (PANEL - 1)
    for (u, w), label in zip(px, y[:, 0]):
        fill = tuple(int(c) for c in (RED if label > 0 else BLUE) * 0.7)
        draw.ellipse([u - 1.5, PANEL - 1 - w - 1.5, u + 1.5, PANEL - 1 - w + 1.5], fill=fill)
    return img


def animate(pattern: str, out_dir: Path, epochs: int = 300, frames: int = 30, seed: int = 0) -> tuple[Path, float]:
    """Train on ``pattern``, write its GIF; returns the path and the held-out accuracy."""
    from PIL import Image, ImageDraw
    X, y = datasets.plane_pattern(pattern, 400, np.random.default_rng(seed))
    X_test, y_test = datasets.plane_pattern(pattern, 2000, np.random.default_rng(seed + 1))
    axis = np.linspace(-1, 1, GRID)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    target = panel(datasets.plane_label(pattern, grid).reshape(GRID, GRID), X, y)
    net = rlnn.MLP([2, 32, 32, 1], activation="tanh", output_activation="tanh", rng_or_seed=seed)
    batch = 40
    opt = rlnn.optim.Adam(net.parameters(), lr=rlnn.schedules.Cosine(0.02, 0.0005, epochs * len(X) // batch))
    snap_at = set(np.unique(np.geomspace(1, epochs, frames - 1).astype(int)) - 1) | {-1}
    images = []

    def snapshot(epoch: int, history=None) -> None:
        if epoch not in snap_at:
            return
        frame = Image.new("RGB", (2 * PANEL, PANEL + 14), "white")
        frame.paste(target, (0, 14))
        frame.paste(panel(net(grid).reshape(GRID, GRID), X, y), (PANEL, 14))
        ImageDraw.Draw(frame).text((4, 1), f"{pattern}: target | network, epoch {epoch + 1}", fill=(0, 0, 0))
        images.append(frame.quantize(colors=64, dither=Image.Dither.NONE))

    snapshot(-1)
    rlnn.fit(net, X, y, rlnn.losses.SquaredError(), opt, epochs=epochs, batch_size=batch, rng=seed,
             callback=snapshot)
    path = out_dir / f"plane_{pattern}.gif"
    durations = [150] * (len(images) - 1) + [1500]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)
    return path, rlnn.accuracy(net(X_test), y_test)


def run(out_dir: Path, quick: bool = False, patterns: list[str] | None = None) -> list[Path]:
    paths = []
    for pattern in patterns or list(datasets.PLANE_PATTERNS):
        path, acc = animate(pattern, out_dir, epochs=20 if quick else 300, frames=6 if quick else 30)
        print(f"{pattern}: held-out accuracy {acc:.3f}")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pattern", choices=list(datasets.PLANE_PATTERNS), action="append")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = run(args.out, args.quick, args.pattern)
    for path in paths:
        print(f"wrote {path}")
    return paths


if __name__ == "__main__":
    main()
