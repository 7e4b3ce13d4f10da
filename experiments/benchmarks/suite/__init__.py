"""The benchmark suite: (algorithm, task, steps) × seeds, side by side, resumable, reported.

    python -m experiments.benchmarks.suite [SUITE] [--only ALGO[:TASK[:SEEDS]] ...] [--jobs N]
        [--out DIR] [--lib rlnn|sb3|both] [--no-tuned] [--dry-run] [--report-only]

    python -m experiments.benchmarks.suite --dry-run                      # the plan of classic.toml
    python -m experiments.benchmarks.suite classic --only dqn:CartPole-v1 --lib both
    python -m experiments.benchmarks.suite classic --only ':Pendulum-v1:0-1' --jobs 2
    python -m experiments.benchmarks.suite classic --no-tuned --lib both  # the defaults study
    python -m experiments.benchmarks.suite mujoco                         # extra 'mujoco'
    python -m experiments.benchmarks.suite classic --report-only          # rebuild the report

``SUITE`` is a shipped suite (``experiments/benchmarks/suites/NAME.toml``: ``classic``, the
issue's classic-control and Box2D table; ``mujoco``) or a TOML file of your own (format:
:mod:`experiments.benchmarks.suite.spec`): entries of an algorithm, a task, a budget, seeds and
a goal (a return threshold and the seeds that must reach it).

* ``--only ALGO[:TASK[:SEEDS]]`` (repeatable) keeps the runs matching any: shell-style patterns,
  case-insensitive, empty for any (``dqn``, ``sac:Pendulum-v1``, ``:*Lunar*``, ``td3::0-2,4``).
* ``--jobs N`` runs N at once (default: the cores), each one process with ``--blas-threads 1
  --lanes 1`` (PyTorch one thread for SB3).
* ``--out DIR`` (default ``runs/suite_NAME``; ``runs/suite_NAME_defaults`` with ``--no-tuned``)
  holds the run folders, one result JSON per run, logs, ``report.md``, ``report.json``,
  ``curves/`` and ``suite.log`` (layout: :mod:`experiments.benchmarks.suite.state`).
* ``--lib sb3|both`` trains Stable-Baselines3 too (extra ``bench``), with the same merged
  hyperparameters (:func:`experiments.benchmarks.sb3_mapping.sb3_setup`), on the entries that do
  not say ``sb3 = false`` (the long tasks, compared with published figures instead); with both,
  the libraries alternate which goes first seed by seed, so drift in the machine hits both.
* ``--no-tuned`` switches the tuned config files off: each library at its own defaults.
* ``--dry-run`` prints every run, its state (fresh, resume, evaluate, done) and its command.
* ``--report-only`` rebuilds the report from the results in ``--out``.

Each run: ``rlnn train`` (or ``rlnn train --resume`` where it stopped; a finished run is not
trained again), then ``rlnn eval RUN/final.npz --episodes 20 --json``: the *final* policy, 20
deterministic episodes on seeds training never uses (``agents.evaluation.EVAL_SEED_OFFSET``
upwards; SB3 plays the same seeds through ``model.predict``). Its result file records the
algorithm, task, library, seed, steps, wall time, steps/s, the evaluation's mean, std and
per-episode returns, the config used with where each setting came from, and the CPU. The suite
as a whole resumes too: the same command again continues where it stopped, from the run folders
and result files alone. Ctrl-C stops cleanly (every run saves a resumable checkpoint; a second
Ctrl-C stops at once). Progress: a line per run started and finished, with an ETA, on stdout
and in ``OUT/suite.log``; each run's output in ``OUT/logs/``. The report (``report.md``,
``report.json``, :mod:`experiments.benchmarks.suite.report`) is rebuilt after every run.

Exit code: 0 when every run finished, 1 when some failed (the others still ran; see the log
each FAILED line names), 2 with one line for a mistake in the command or the suite file, 130
when stopped.
"""

from experiments.benchmarks.suite.cli import main
from experiments.benchmarks.suite.report import aggregate, draw_curves, goal_status, summarise, write_report
from experiments.benchmarks.suite.spec import Entry, Goal, Run, Suite, SuiteError, load_suite, plan_runs, select
from experiments.benchmarks.suite.state import run_state

__all__ = ["Entry", "Goal", "Run", "Suite", "SuiteError", "aggregate", "draw_curves", "goal_status", "load_suite",
           "main", "plan_runs", "run_state", "select", "summarise", "write_report"]
