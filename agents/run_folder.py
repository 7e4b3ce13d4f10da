"""A run folder on disk: ``run.json`` (what was run), ``metrics.csv`` (one row per episode and
per evaluation), ``evals.jsonl`` (every evaluation in full: each episode's return, length and
final info, and how long it took), checkpoints, and the lock that keeps two runs out of one folder.

Nothing here is lost or mixed by an interruption:

* the folder is locked (``flock`` on ``.lock``) while a run writes to it, so a second run with the
  same folder stops at once with one line instead of interleaving its rows; the OS drops the lock
  when the process dies, even by ``kill -9``;
* ``run.json`` is written atomically (a temporary file, then a rename); checkpoints are too
  (:func:`rlnn.save_arrays`), and temporary files left by a write that was killed are removed
  when a run takes the folder;
* a row of ``metrics.csv`` (a line of ``evals.jsonl``) is one ``write`` call; on resuming, rows
  after the checkpoint and a partial last row (a full disk, a kill mid-write) are dropped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

RUN_FILES = ("run.json", "metrics.csv", "evals.jsonl", "checkpoints", "final.npz", "best.npz", "policy.npz", "curve.png",
             "episode.gif", "tensorboard")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (one line, saying what to do)."""


class RunFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: Any = None

    @property
    def info_path(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def evals_path(self) -> Path:
        return self.path / "evals.jsonl"

    @property
    def resume_path(self) -> Path:
        return self.path / "checkpoints" / "resume.npz"

    def holds_run(self) -> bool:
        return self.path.is_dir() and any((self.path / name).exists() for name in RUN_FILES)

    # -- taking the folder -------------------------------------------------------------------
    def claim(self, fresh: bool, overwrite: bool = False) -> None:
        """Create and lock the folder for a run. ``fresh``: a new run, refused where one is
        already recorded (unless ``overwrite``, which removes the old run's files first)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} is a file, not a folder; choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._take_lock()
        except PermissionError:
            raise RunFolderError(f"cannot write to {self.path} (permission denied); choose another --out") from None
        if fresh and self.holds_run():
            if not overwrite:
                self.release()
                raise RunFolderError(f"{self.path} already holds a run; continue it with --resume {self.path}, "
                                     f"or start again with --overwrite")
            for name in RUN_FILES:
                target = self.path / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        self.remove_temporary_files()

    def _take_lock(self) -> None:
        import fcntl

        handle = open(self.path / ".lock", "a")  # noqa: SIM115 (held open for the run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunFolderError(f"another run is writing to {self.path}; wait for it to finish or choose "
                                 f"another --out") from None
        self._lock = handle

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def remove_temporary_files(self) -> None:
        """Temporary files of atomic writes that a killed process left behind."""
        for folder in (self.path, self.path / "checkpoints"):
            if folder.is_dir():
                for tmp in folder.glob("*.tmp"):
                    tmp.unlink(missing_ok=True)

    # -- run.json --------------------------------------------------------------------------
    def write_info(self, info: dict[str, Any]) -> None:
        write_atomic(self.info_path, json.dumps(info, indent=2) + "\n")

    def read_info(self) -> dict[str, Any]:
        if not self.path.is_dir():
            raise RunFolderError(f"no run folder at {self.path}")
        if not self.info_path.is_file():
            raise RunFolderError(f"{self.path} is not a run folder (it has no run.json)")
        try:
            info = json.loads(self.info_path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise RunFolderError(f"{self.info_path} cannot be read ({type(exc).__name__}); the run folder is "
                                 f"damaged") from None
        if not isinstance(info, dict):
            raise RunFolderError(f"{self.info_path} does not hold a JSON object; the run folder is damaged")
        return info

    # -- metrics.csv -----------------------------------------------------------------------
    def append_metrics(self, row: dict[str, Any], columns: list[str]) -> None:
        """One row, written in one call (a header first when the file is new)."""
        new = not self.metrics_path.exists()
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        with self.metrics_path.open("a", newline="") as f:
            f.write(text.getvalue())

    def truncate_metrics(self, step: int) -> None:
        """Keep the complete rows logged up to ``step`` (later ones will be logged again; a
        partial last row, from a full disk or a kill mid-write, is dropped)."""
        if not self.metrics_path.exists():
            return
        with self.metrics_path.open(newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames
            rows = [r for r in reader if _complete(r, header) and int(r["step"]) <= step]
        if not header:
            self.metrics_path.unlink()
            return
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.metrics_path, text.getvalue())

    # -- evals.jsonl -----------------------------------------------------------------------
    def append_eval(self, record: dict[str, Any]) -> None:
        """One evaluation (a JSON object with its ``step``), as one line written in one call."""
        with self.evals_path.open("a") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")

    def read_evals(self) -> list[dict[str, Any]]:
        """The complete evaluation records, in order (a partial last line is skipped)."""
        if not self.evals_path.exists():
            return []
        records = []
        for line in self.evals_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("step"), int):
                records.append(record)
        return records

    def truncate_evals(self, step: int) -> None:
        """Keep the evaluations made up to ``step``, as :meth:`truncate_metrics` does."""
        if self.evals_path.exists():
            kept = [r for r in self.read_evals() if r["step"] <= step]
            write_atomic(self.evals_path, "".join(json.dumps(r, allow_nan=True) + "\n" for r in kept))


def _complete(row: dict[str, Any], header: list[str] | None) -> bool:
    if header is None or None in row or any(row.get(name) is None for name in header):
        return False
    try:
        int(row["step"])
    except (KeyError, ValueError):
        return False
    return True


def write_atomic(path: Path, text: str) -> None:
    """``path`` holds ``text`` or what it held before, never a part of it."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
