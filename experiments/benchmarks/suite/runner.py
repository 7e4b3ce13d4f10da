"""Running a suite's runs side by side: each run one process at a time (rlnn: ``rlnn train``, then
``rlnn eval`` of ``final.npz``; SB3: :mod:`experiments.benchmarks.suite.sb3_run`), ``jobs`` runs at
once, each with one BLAS thread and one lane; a result file per run once it is evaluated.

The processes are started in sessions of their own, so a Ctrl-C at the terminal reaches only the
suite, which passes it on once to each: an rlnn run then saves a resumable checkpoint and stops
(a second Ctrl-C stops the runs at once; they resume from their last checkpoint). No new run or
stage starts after the first.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from experiments.benchmarks.processes import thread_env
from experiments.benchmarks.suite.spec import Run
from experiments.benchmarks.suite.state import EVALUATE, FRESH, RESUME, RunPaths, read_json, read_result

FINAL_EVAL_EPISODES = 20
CLI = (sys.executable, "-m", "experiments.cli")
POLL_S = 0.2


# -- the commands -----------------------------------------------------------------------------
def train_command(run: Run, run_dir: Path, state: str) -> list[str]:
    """``rlnn train`` for a fresh run (one BLAS thread, one lane; ``--overwrite`` clears what an
    earlier start left before its first checkpoint), or ``rlnn train --resume``."""
    if state == RESUME:
        return [*CLI, "train", "--resume", str(run_dir), "--quiet", "--no-gif"]
    e = run.entry
    argv = [*CLI, "train", e.algo, e.env_id, "--seed", str(run.seed), "--steps", str(e.steps), "--out", str(run_dir),
            "--overwrite", "--blas-threads", "1", "--lanes", "1", "--quiet", "--no-gif"]
    if not run.tuned:
        argv.append("--no-tuned")
    if e.eval_freq is not None:
        argv += ["--eval-freq", str(e.eval_freq)]
    if e.env_kwargs:
        argv += ["--env-kwargs", *(f"{k}={json.dumps(v)}" for k, v in e.env_kwargs.items())]
    for key, value in e.config.items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    return argv


def eval_command(run_dir: Path) -> list[str]:
    """``rlnn eval`` of the final policy: 20 deterministic episodes on the evaluation seeds."""
    return [*CLI, "eval", str(run_dir / "final.npz"), "--episodes", str(FINAL_EVAL_EPISODES), "--json"]


def sb3_command(run_dir: Path) -> list[str]:
    """The SB3 run in ``run_dir``, which it reads from the folder's ``suite_run.json``."""
    return [sys.executable, "-m", "experiments.benchmarks.suite.sb3_run", str(run_dir)]


def stages(run: Run, paths: RunPaths, state: str) -> list[tuple[str, list[str]]]:
    """The processes ``run`` still needs, in order, each ``(stage name, argv)``."""
    if run.lib == "sb3":
        return [("sb3", sb3_command(paths.run_dir))]
    todo = [] if state == EVALUATE else [("train", train_command(run, paths.run_dir, state))]
    return [*todo, ("eval", eval_command(paths.run_dir))]


def shown_command(argv: Sequence[str]) -> str:
    """A command as a user would type it (``python -m ...``)."""
    return shlex.join(["python", *argv[1:]]) if argv and argv[0] == sys.executable else shlex.join(argv)


# -- the result of a run ----------------------------------------------------------------------
def cpu_name() -> str:
    from experiments.benchmarks.compare_sb3 import cpu_name as name
    return name()


def last_json(path: Path) -> dict[str, Any] | None:
    """The JSON object on the last line of a stage's stdout."""
    try:
        lines = path.read_text().strip().splitlines()
        data = json.loads(lines[-1]) if lines else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def rlnn_result(run: Run, paths: RunPaths) -> dict[str, Any]:
    """The result of a trained and evaluated rlnn run: its training summary (the last ``rlnn
    train`` of it; ``metrics.csv``'s last time if that is gone), the evaluation, and the config
    and provenance ``run.json`` recorded."""
    evaluation = last_json(paths.stdout("eval"))
    if evaluation is None or "returns" not in evaluation:
        raise ValueError(f"rlnn eval printed no result (see {paths.log})")
    summary = last_json(paths.stdout("train")) or {}
    info = read_json(paths.run_dir / "run.json") or {}
    wall = summary.get("wall_time_s") if (summary.get("steps") or 0) >= run.steps else None
    wall = wall if wall is not None else _last_time(paths.run_dir)
    return {"wall_time_s": wall, "steps_per_s": run.steps / wall if wall else None,
            "eval": eval_summary(evaluation),
            "config": info.get("config"), "config_sources": info.get("config_sources"),
            "config_layers": info.get("config_layers"), "command": info.get("command"),
            "lanes": info.get("lanes"), "blas_threads": info.get("blas_threads")}


def eval_summary(evaluation: dict[str, Any]) -> dict[str, Any]:
    """What a result keeps of an evaluation (``rlnn eval --json``, or ``EvalResult.to_json()``
    with its first ``seed``): the mean and std, the returns and lengths of every episode, the
    means of the env's numeric ``info``."""
    return {k: evaluation.get(k) for k in ("seed", "mean_return", "std_return", "returns", "lengths", "info_means")}


def _last_time(run_dir: Path) -> float | None:
    from experiments.plots import read_metrics

    try:
        rows = [r for kind in read_metrics(run_dir).values() for r in kind]
        return max(float(r["time"]) for r in rows if r.get("time"))
    except (ValueError, OSError):
        return None


def write_result(run: Run, paths: RunPaths, suite_name: str, body: dict[str, Any]) -> dict[str, Any]:
    from agents.run_folder import write_atomic

    result = {"spec": run.spec(), "suite": suite_name, "lib": run.lib, "entry": run.entry.name,
              "algo": run.entry.algo, "env_id": run.entry.env_id, "seed": run.seed, "steps": run.steps,
              "eval_episodes": FINAL_EVAL_EPISODES, **body, "cpu": cpu_name(),
              "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "run_dir": str(paths.run_dir.relative_to(paths.out))}
    paths.result.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(paths.result, json.dumps(result, indent=2) + "\n")
    return result


# -- progress ---------------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def eta_seconds(left: Sequence[tuple[Run, int]], running: Sequence[tuple[Run, int, float]],
                known: Sequence[dict[str, Any]], jobs: int) -> float | None:
    """Seconds until the runs ``left`` (``(run, env steps to go)``, not started) and ``running``
    (``(run, env steps to go when it started, seconds since)``) are done, ``jobs`` at a time:
    the steps at the seconds per step of finished runs of the same library, algorithm and task
    (of all finished runs where there is none). ``None`` before any run has finished."""
    rates: dict[tuple[str, str, str], list[float]] = {}
    for r in known:
        if r.get("wall_time_s"):
            rates.setdefault((r["lib"], r["algo"], r["env_id"]), []).append(r["wall_time_s"] / r["steps"])
    if not rates:
        return None
    overall = sum(sum(v) for v in rates.values()) / sum(len(v) for v in rates.values())

    def estimate(run: Run, steps: int) -> float:
        per_step = rates.get((run.lib, run.entry.algo, run.entry.env_id))
        return steps * (sum(per_step) / len(per_step) if per_step else overall)

    total = sum(estimate(run, steps) for run, steps in left)
    total += sum(max(estimate(run, steps) - elapsed, 0.0) for run, steps, elapsed in running)
    return total / max(jobs, 1)


# -- running ----------------------------------------------------------------------------------
class Job:
    """A run under way: its remaining stages and the process of the current one."""

    def __init__(self, run: Run, paths: RunPaths, todo: list[tuple[str, list[str]]], steps_to_go: int) -> None:
        self.run, self.paths, self.todo, self.steps_to_go = run, paths, todo, steps_to_go
        self.stage = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.started = time.monotonic()

    def start_next(self) -> None:
        self.stage, argv = self.todo.pop(0)
        self.paths.log.parent.mkdir(parents=True, exist_ok=True)
        with self.paths.log.open("a") as log:
            log.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {self.stage}: {shown_command(argv)}\n")
        env = {**thread_env(1), "PYTHONUNBUFFERED": "1"}
        with self.paths.stdout(self.stage).open("wb") as out, self.paths.log.open("ab") as err:
            self.process = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                            start_new_session=True)

    def last_error(self) -> str:
        try:
            lines = [line for line in self.paths.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines and not lines[-1].startswith("== ") else ""


class Runner:
    """Runs ``runs`` (each ``(run, state, env steps to go)``, see :mod:`.state`), ``jobs`` at once,
    and reports through ``say``; ``on_result(run, result)`` after each run's result is written."""

    def __init__(self, runs: Sequence[tuple[Run, str, int]], out: Path, suite_name: str, jobs: int,
                 say: Callable[[str], None], known: Sequence[dict[str, Any]] = (),
                 on_result: Callable[[Run, dict[str, Any]], None] | None = None) -> None:
        self.queue = deque(runs)
        self.total = len(runs)
        self.out, self.suite_name, self.jobs, self.say = out, suite_name, jobs, say
        self.known = list(known)
        self.on_result = on_result or (lambda run, result: None)
        self.active: list[Job] = []
        self.finished = self.failed = self.started = 0
        self.signals = 0

    def _signal(self, signum: int, frame: Any) -> None:
        self.signals += 1

    def run(self) -> int:
        """Run everything; 0 when all finished, 1 when some failed, 130 when stopped by a signal."""
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGINT, signal.SIGTERM)}
        forwarded = 0
        try:
            while self.queue or self.active:
                if self.signals > forwarded:
                    forwarded = self._forward(forwarded)
                while not self.signals and self.queue and len(self.active) < self.jobs:
                    self._start(*self.queue.popleft())
                for job in [j for j in self.active if j.process is not None and j.process.poll() is not None]:
                    self._stage_ended(job)
                time.sleep(POLL_S)
        except BaseException:      # the suite itself failed: its runs save and stop rather than run on unwatched
            for job in self.active:
                if job.process is not None and job.process.poll() is None:
                    job.process.send_signal(signal.SIGINT)
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.signals:
            self.say(f"stopped: {self.finished} run(s) finished, {len(self.queue)} not started; run the same "
                     f"command again to continue")
            return 130
        return 1 if self.failed else 0

    def _forward(self, forwarded: int) -> int:
        if forwarded == 0:
            self.say(f"interrupted: asking {len(self.active)} run(s) to save and stop (Ctrl-C again: stop at once)")
        for job in self.active:
            if job.process is not None and job.process.poll() is None:
                job.process.send_signal(signal.SIGINT)
        return self.signals

    def _start(self, run: Run, state: str, steps_to_go: int) -> None:
        paths = RunPaths(self.out, run)
        if state == FRESH:     # the folder says what it holds before anything runs in it
            from agents.run_folder import write_atomic

            if run.lib == "sb3":
                _clear(paths.run_dir)
            paths.run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(paths.spec, json.dumps(run.spec(), indent=2) + "\n")
        job = Job(run, paths, stages(run, paths, state), steps_to_go)
        self.started += 1
        self.active.append(job)
        self.say(f"start  {self.started}/{self.total} {run.label}: {state}"
                 + (f", {steps_to_go:,} steps to train" if steps_to_go else "")
                 + f"; ETA {duration(self._eta())} (log {paths.log})")
        job.start_next()

    def _eta(self) -> float | None:
        running = [(j.run, j.steps_to_go, time.monotonic() - j.started) for j in self.active]
        return eta_seconds([(run, steps) for run, _, steps in self.queue], running, self.known, self.jobs)

    def _stage_ended(self, job: Job) -> None:
        code = job.process.returncode if job.process is not None else -1
        if code == 0 and job.todo and not self.signals:
            job.start_next()
            return
        self.active.remove(job)
        if code != 0 or job.todo:
            if self.signals:
                self.say(f"stopped {job.run.label} ({job.stage}); it continues next time")
            else:
                self.failed += 1
                self.say(f"FAILED {job.run.label} ({job.stage}, exit code {code}): {job.last_error()} "
                         f"(log {job.paths.log})")
            return
        try:
            result = self._result(job)
        except (ValueError, OSError) as exc:
            self.failed += 1
            self.say(f"FAILED {job.run.label}: {exc}")
            return
        self.finished += 1
        self.known.append(result)
        eta, ev = self._eta(), result["eval"]
        self.say(f"finish {self.finished}/{self.total} {job.run.label}: {ev['mean_return']:.1f} ± "
                 f"{ev['std_return']:.1f} ({FINAL_EVAL_EPISODES} episodes), "
                 f"{duration(result.get('wall_time_s'))} of training"
                 + (f" ({result['steps_per_s']:.0f} steps/s)" if result.get("steps_per_s") else "")
                 + f"; {len(self.queue) + len(self.active)} left, ETA {duration(eta)}")
        try:
            self.on_result(job.run, result)
        except (OSError, ValueError) as exc:   # the report is rebuilt at the end (and by --report-only)
            self.say(f"report not updated after {job.run.label}: {exc}")

    def _result(self, job: Job) -> dict[str, Any]:
        if job.run.lib == "sb3":
            body = last_json(job.paths.stdout("sb3"))
            if body is None or "eval" not in body:
                raise ValueError(f"the SB3 run printed no result (see {job.paths.log})")
        else:
            body = rlnn_result(job.run, job.paths)
        return write_result(job.run, job.paths, self.suite_name, body)


def _clear(run_dir: Path) -> None:
    """An SB3 run starts again from nothing: what an unfinished start left goes."""
    import shutil

    if run_dir.is_dir():
        shutil.rmtree(run_dir)


def done_results(out: Path, runs: Sequence[Run]) -> list[dict[str, Any]]:
    """The results already written for ``runs`` (for the ETA and the report)."""
    return [r for r in (read_result(out, run) for run in runs) if r is not None]
