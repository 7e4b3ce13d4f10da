"""Shared command-line handling for the demo scripts (output folder, quick mode)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "supervised"


def cli(run: Callable[[Path, bool], list[Path]], description: str, argv: list[str] | None = None) -> list[Path]:
    """Parse ``--out DIR`` and ``--quick``, call ``run(out_dir, quick)``, print what was written."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--quick", action="store_true", help="fewer epochs / frames, for a smoke test")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = run(args.out, args.quick)
    for path in paths:
        print(f"wrote {path}")
    return paths


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (imported lazily: rlnn never needs it)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt
