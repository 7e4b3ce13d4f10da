"""Where a suite's runs live on disk, and how far each got: read from the run folders and the
per-run result files alone, so there is no state file of the suite's own to go stale, and
rerunning the same command continues where the last one stopped::

    OUT/runs/LIB/ENTRY/sSEED/            the run folder (rlnn's own; SB3's metrics.csv), with
                                         suite_run.json: what the run is, written when it starts
    OUT/results/LIB/ENTRY/sSEED.json     the run's result, written once its final policy is evaluated
    OUT/logs/LIB/ENTRY/sSEED.log         what its processes printed (stderr), run after run
    OUT/logs/LIB/ENTRY/sSEED.STAGE.out   the last stdout of each stage (train, eval, sb3)

A run is *done* when its result file records the run the suite asks for; an rlnn run is to be
*evaluated* when its folder holds ``final.npz`` (training finished), *resumed* when it holds
``checkpoints/resume.npz``, and *fresh* otherwise. SB3 runs are not resumable (SB3 saves by
pickling, which this project does not load): an unfinished one starts again. A folder or
result recording another run (the suite file changed under it) is refused with one line.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from experiments.benchmarks.suite.spec import Run, SuiteError

DONE, EVALUATE, RESUME, FRESH = "done", "evaluate", "resume", "fresh"
SPEC_FILE = "suite_run.json"


@dataclasses.dataclass(frozen=True)
class RunPaths:
    out: Path
    run: Run

    @property
    def _rel(self) -> Path:
        return Path(self.run.lib) / self.run.entry.name / f"s{self.run.seed}"

    @property
    def run_dir(self) -> Path:
        return self.out / "runs" / self._rel

    @property
    def result(self) -> Path:
        return (self.out / "results" / self._rel).with_suffix(".json")

    @property
    def log(self) -> Path:
        return (self.out / "logs" / self._rel).with_suffix(".log")

    def stdout(self, stage: str) -> Path:
        return (self.out / "logs" / self._rel).with_suffix(f".{stage}.out")

    @property
    def spec(self) -> Path:
        return self.run_dir / SPEC_FILE


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or ``None`` when it is missing or not one (a file cut by a
    kill is rewritten, never trusted)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def read_result(out: Path, run: Run) -> dict[str, Any] | None:
    """The run's result, if one was written for the run the suite now asks for."""
    result = read_json(RunPaths(out, run).result)
    return result if result is not None and result.get("spec") == run.spec() else None


def run_state(out: Path, run: Run) -> str:
    """How far ``run`` got in ``out``: :data:`DONE`, :data:`EVALUATE`, :data:`RESUME` or :data:`FRESH`."""
    paths = RunPaths(out, run)
    planned = run.spec()
    result, started = read_json(paths.result), read_json(paths.spec)
    for recorded, where in ((None if result is None else result.get("spec"), paths.result), (started, paths.spec)):
        if recorded is not None and recorded != planned:
            raise SuiteError(_mismatch(where, recorded, planned, out))
    if read_result(out, run) is not None:
        return DONE
    if not paths.spec.is_file():
        if (paths.run_dir / "run.json").is_file():
            raise SuiteError(f"{paths.run_dir} holds a run the suite did not start (no {SPEC_FILE}); move it "
                             f"away or choose another --out")
        return FRESH
    if run.lib == "rlnn":
        if (paths.run_dir / "final.npz").is_file():
            return EVALUATE
        if (paths.run_dir / "checkpoints" / "resume.npz").is_file():
            return RESUME
    return FRESH


def _mismatch(where: Path, recorded: Any, planned: dict[str, Any], out: Path) -> str:
    if not isinstance(recorded, dict):
        return f"{where} is damaged; delete it (and its run folder) to run it again"
    keys = [k for k in planned if recorded.get(k) != planned[k]]
    was = ", ".join(f"{k}={json.dumps(recorded.get(k))}" for k in keys)
    now = ", ".join(f"{k}={json.dumps(planned[k])}" for k in keys)
    return (f"{where} records another run ({was}; the suite now asks {now}); delete that run's folder and "
            f"result to run it again, give the entry another name, or choose another --out than {out}")


def last_step(run_dir: Path) -> int | None:
    """The step of the last row of a run's ``metrics.csv`` (how far a run to resume got)."""
    try:
        lines = (run_dir / "metrics.csv").read_text().strip().splitlines()
        return int(lines[-1].split(",")[1]) if len(lines) > 1 else None
    except (OSError, ValueError, IndexError):
        return None


def steps_to_go(out: Path, run: Run, state: str) -> int:
    """Env steps ``run`` still has to train in its ``state`` (from the last logged step when it
    resumes: an estimate, for the plan and the ETA)."""
    if state in (DONE, EVALUATE):
        return 0
    done = last_step(RunPaths(out, run).run_dir) if state == RESUME else None
    return max(run.steps - (done or 0), 0)
