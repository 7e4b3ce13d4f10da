"""Supervised demos of the seeds, each a script that writes a PNG or GIF (default docs/supervised/).

    python -m experiments.supervised.sine         # seed 002: sine fit, GD vs Adam
    python -m experiments.supervised.plane        # seed 000: decision-region GIFs
    python -m experiments.supervised.optimizers   # seed 001: optimiser trajectories
    python -m experiments.supervised.activations  # sigmoid vs ReLU; activation histograms
    python -m experiments.supervised.regularization  # seed 001: batch norm, dropout, weight decay

``run_all(out_dir)`` runs them all and returns the files written.
"""

from __future__ import annotations

from pathlib import Path

from ._common import DEFAULT_OUT

DEMOS = ("sine", "plane", "optimizers", "activations", "regularization")


def run_all(out_dir: Path = DEFAULT_OUT, quick: bool = False) -> list[Path]:
    """Run every demo, writing into ``out_dir`` (created if needed); returns the paths written.
    ``quick=True`` trains for fewer epochs and renders fewer frames (a smoke test)."""
    from importlib import import_module
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name in DEMOS:
        paths += import_module(f"{__name__}.{name}").run(out_dir, quick)
    return paths


__all__ = ["DEMOS", "run_all"]
