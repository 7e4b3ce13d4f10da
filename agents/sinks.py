"""Where the training loop's metric rows go: ``metrics.csv`` (always, with a run folder) and
TensorBoard event files (``RunSettings.tensorboard``). The loop hands every row, an episode's or
an evaluation's, to each sink; a sink knows nothing of the loop.

TensorBoard tags, from a row's columns::

    episode rows   return -> episode/return, length -> episode/length, steps_per_s -> time/steps_per_s,
                   the agent's metrics (loss, ...) -> train/<name>, callbacks' metrics -> custom/<name>
                   (a name holding "/" is used as it is)
    eval rows      eval_mean_return -> eval/mean_return, eval_std_return -> eval/std_return,
                   eval_<info key> -> eval/<info key>

each at the row's ``step`` (env transitions).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .event_file import FILE_PREFIX, EventFileWriter
from .run_folder import RunFolder

EPISODE_TAGS = {"return": "episode/return", "length": "episode/length", "steps_per_s": "time/steps_per_s"}
UNTAGGED = frozenset({"kind", "step", "episode", "time"})


class CsvLog:
    """Rows into ``metrics.csv``, one ``write`` each. A file that exists already (a resumed run)
    keeps its header: a column it lacks is not written (said once through ``log``), so rows never
    shift under the wrong heading."""

    def __init__(self, folder: RunFolder, columns: list[str], log: Callable[[str], None]) -> None:
        self.folder, self.columns = folder, list(columns)
        if folder.metrics_path.is_file():
            with folder.metrics_path.open(newline="") as f:
                header = next(csv.reader(f), None)
            if header and header != self.columns:
                missing = [c for c in self.columns if c not in header]
                if missing:
                    log(f"{folder.metrics_path} has no column for {', '.join(missing)}; those values are "
                        f"not written to it")
                self.columns = header

    def write(self, row: dict[str, Any]) -> None:
        self.folder.append_metrics(row, self.columns)


class TensorBoardLog:
    """Rows as TensorBoard scalars, into a new event file in ``folder``. ``train_names``: the
    agent's metric names. ``start_step``: where a resumed run takes over (None for a fresh run,
    whose folder is first cleared of event files an overwritten run left)."""

    def __init__(self, folder: str | Path, train_names: tuple[str, ...], start_step: int | None) -> None:
        folder = Path(folder)
        if start_step is None and folder.is_dir():
            for stale in folder.glob(FILE_PREFIX + "*"):
                stale.unlink()
        self.writer = EventFileWriter(folder, start_step)
        self.train_names = frozenset(train_names)

    def tag(self, kind: str, key: str) -> str | None:
        if key in UNTAGGED:
            return None
        if kind == "eval":
            return "eval/" + key[5:] if key.startswith("eval_") else None
        if key in EPISODE_TAGS:
            return EPISODE_TAGS[key]
        if key in self.train_names:
            return "train/" + key
        return key if "/" in key else "custom/" + key

    def write(self, row: dict[str, Any]) -> None:
        kind = row.get("kind", "")
        values = {}
        for key, value in row.items():
            tag = self.tag(kind, key)
            if tag is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                values[tag] = float(value)
        self.writer.scalars(int(row["step"]), values)
