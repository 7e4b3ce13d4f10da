"""A suite file: which (algorithm, task, steps, seeds) to run, with the goal of each; the runs
it makes; and the subset ``--only`` picks. Nothing here runs anything.

A suite is a TOML file (``experiments/benchmarks/suites/NAME.toml``), read with ``tomllib`` and
never executed::

    name = "classic"                 # optional: the file's name
    description = "..."              # optional

    [[entry]]
    algo = "dqn"
    env_id = "CartPole-v1"
    steps = 50_000
    seeds = 5                        # seeds 0-4, or a list [0, 3, 7]
    goal = { threshold = 475, seeds = 5 }   # a seed meets it when its final mean return >= threshold
    reference = "zoo 500 at 50k"     # optional: the published figure the goal comes from
    sb3 = true                       # optional: also run by Stable-Baselines3 with --lib sb3|both
    config = { learning_starts = 500 }      # optional: hyperparameters over the tuned file
    env_kwargs = {}                  # optional: gymnasium.make keyword arguments
    eval_freq = 5000                 # optional: env steps between in-training evaluations
    tuned = true                     # optional: false leaves the tuned file out (as --no-tuned)
    name = "dqn_CartPole-v1"         # optional: the entry's folder name (default algo_task)

Every problem is one line (:class:`SuiteError`) naming the file, the entry and the key.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.errors import UsageError

SUITES_DIR = Path(__file__).resolve().parents[1] / "suites"
LIBS = ("rlnn", "sb3")
SUITE_KEYS = frozenset({"name", "description", "entry"})
ENTRY_KEYS = frozenset({"name", "algo", "env_id", "steps", "seeds", "goal", "reference", "sb3", "config",
                        "env_kwargs", "eval_freq", "tuned"})
GOAL_KEYS = frozenset({"threshold", "seeds"})
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}", re.ASCII)


class SuiteError(UsageError):
    """A suite file or selection that cannot be used (one line naming the file and key)."""


@dataclasses.dataclass(frozen=True)
class Goal:
    threshold: float
    """A seed meets the goal when the mean return of its final policy is at least this."""
    seeds: int
    """Seeds that must meet it for the entry to meet it."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the suite's table: an algorithm on a task for a budget, over seeds."""
    name: str
    algo: str
    env_id: str
    steps: int
    seeds: tuple[int, ...]
    goal: Goal | None = None
    reference: str = ""
    sb3: bool = True
    tuned: bool = True
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    eval_freq: int | None = None


@dataclasses.dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    entries: tuple[Entry, ...]
    description: str = ""

    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of the suite: a library, an entry and a seed."""
    lib: str
    entry: Entry
    seed: int
    tuned: bool
    """The tuned file is used (the entry's ``tuned`` and no ``--no-tuned``)."""

    @property
    def label(self) -> str:
        return f"{self.lib} {self.entry.algo} {self.entry.env_id} seed {self.seed}"

    @property
    def steps(self) -> int:
        return self.entry.steps

    def spec(self) -> dict[str, Any]:
        """What the run is: recorded in its folder and its result, and compared on every later
        invocation (a suite file changed under a run is refused, not mixed into it)."""
        e = self.entry
        return {"lib": self.lib, "entry": e.name, "algo": e.algo, "env_id": e.env_id, "seed": self.seed,
                "steps": e.steps, "tuned": self.tuned, "config": dict(e.config), "env_kwargs": dict(e.env_kwargs),
                "eval_freq": e.eval_freq}


# -- reading ----------------------------------------------------------------------------------
def suite_path(name_or_path: str | Path) -> Path:
    """A shipped suite by name (``classic`` → ``experiments/benchmarks/suites/classic.toml``), or a path."""
    text = str(name_or_path)
    if _NAME.fullmatch(text) and not text.endswith(".toml"):
        return SUITES_DIR / f"{text}.toml"
    return Path(text)


def shipped() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """Read and check a suite file (a shipped suite's name, or a path)."""
    path = suite_path(name_or_path)
    try:
        import tomllib
    except ImportError:  # Python 3.10: the 'ray' extra brings tomli
        try:
            import tomli as tomllib
        except ImportError:
            raise SuiteError(f"reading {path} needs tomli on Python 3.10: pip install tomli") from None
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        hint = f"; shipped suites: {', '.join(shipped())}" if path.parent == SUITES_DIR else ""
        raise SuiteError(f"suite file not found: {path}{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"cannot read suite file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path} is not valid TOML: {exc}") from None
    return parse_suite(data, path)


def parse_suite(data: dict[str, Any], path: Path) -> Suite:
    where = str(path)
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {unknown}; accepted: {sorted(SUITE_KEYS)}")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SuiteError(f"{where}: name must be letters, digits, '_', '.' or '-', got {name!r}")
    raw = data.get("entry")
    if not isinstance(raw, list) or not raw:
        raise SuiteError(f"{where}: no entries; add [[entry]] tables with algo, env_id, steps and seeds")
    entries = tuple(_entry(item, f"{where}: entry {i + 1}") for i, item in enumerate(raw))
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        if e.name in seen:
            raise SuiteError(f"{where}: entry {i + 1} has the name {e.name!r} of entry {seen[e.name] + 1}; "
                             f"give one of them another name = \"...\"")
        seen[e.name] = i
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{where}: description must be a string")
    return Suite(name, path, entries, description)


def _entry(item: Any, where: str) -> Entry:
    import agents
    from agents.safety import registered_env_id

    if not isinstance(item, dict):
        raise SuiteError(f"{where} must be a table")
    unknown = sorted(set(item) - ENTRY_KEYS)
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {unknown}; accepted: {sorted(ENTRY_KEYS)}")
    for key in ("algo", "env_id", "steps", "seeds"):
        if key not in item:
            raise SuiteError(f"{where}: needs {key!r}")
    algo = item["algo"]
    if algo not in agents.ALGORITHMS:
        raise SuiteError(f"{where}: unknown algo {algo!r}; accepted: {', '.join(sorted(agents.ALGORITHMS))}")
    try:
        env_id = registered_env_id(item["env_id"], where)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    where = f"{where} ({algo} {env_id})"
    steps = _count(item["steps"], "steps", where)
    seeds = _seeds(item["seeds"], where)
    config = _table(item, "config", where)
    fields = {f.name for f in dataclasses.fields(agents.ALGORITHMS[algo].Config)}
    bad = sorted(set(config) - fields)
    if bad:
        raise SuiteError(f"{where}: config key(s) {bad} are not {algo} hyperparameters; accepted: {sorted(fields)}")
    eval_freq = item.get("eval_freq")
    name = item.get("name", f"{algo}_{env_id.replace('/', '__')}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SuiteError(f"{where}: name must be letters, digits, '_', '.' or '-', got {name!r}")
    flags = {key: item.get(key, True) for key in ("sb3", "tuned")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise SuiteError(f"{where}: {key} must be true or false, got {value!r}")
    reference = item.get("reference", "")
    if not isinstance(reference, str):
        raise SuiteError(f"{where}: reference must be a string, got {reference!r}")
    return Entry(name=name, algo=algo, env_id=env_id, steps=steps, seeds=seeds,
                 goal=_goal(item.get("goal"), len(seeds), where), reference=reference, config=config,
                 env_kwargs=_table(item, "env_kwargs", where),
                 eval_freq=None if eval_freq is None else _count(eval_freq, "eval_freq", where), **flags)


def _count(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuiteError(f"{where}: {key} must be a positive whole number, got {value!r}")
    return value


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SuiteError(f"{where}: seeds must be a positive count or a list of seeds, got {value!r}")
        return tuple(range(value))
    ok = isinstance(value, list) and value and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
    if not ok or len(set(value)) != len(value):
        raise SuiteError(f"{where}: seeds must be a count (5: seeds 0-4) or a list of distinct whole numbers "
                         f">= 0, got {value!r}")
    return tuple(value)


def _table(item: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = item.get(key, {})
    if not isinstance(value, dict):
        raise SuiteError(f"{where}: {key} must be a table, e.g. {key} = {{ gamma = 0.98 }}")
    try:
        json.dumps(value)       # passed on as --set key=JSON and recorded with the run
    except TypeError as exc:
        raise SuiteError(f"{where}: {key} holds a value that is not a number, string, boolean, list or "
                         f"table ({exc})") from None
    return dict(value)


def _goal(value: Any, n_seeds: int, where: str) -> Goal | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - GOAL_KEYS or "threshold" not in value:
        raise SuiteError(f"{where}: goal must be a table {{ threshold = RETURN, seeds = N }}, got {value!r}")
    threshold = value["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise SuiteError(f"{where}: goal.threshold must be a number, got {threshold!r}")
    seeds = value.get("seeds", n_seeds)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= n_seeds:
        raise SuiteError(f"{where}: goal.seeds must be a whole number from 1 to the {n_seeds} seeds run, "
                         f"got {seeds!r}")
    return Goal(float(threshold), seeds)


# -- the runs ---------------------------------------------------------------------------------
def plan_runs(suite: Suite, libs: Sequence[str], no_tuned: bool = False) -> list[Run]:
    """Every run of ``suite`` for ``libs``, in the file's order (cheap entries first), seed by
    seed, the libraries alternating which goes first (rlnn first on even seeds), so drift in
    the machine's speed hits both. Entries with ``sb3 = false`` run in rlnn only."""
    runs = []
    for entry in suite.entries:
        for i, seed in enumerate(entry.seeds):
            for lib in (libs if i % 2 == 0 else tuple(reversed(libs))):
                if lib == "sb3" and not entry.sb3:
                    continue
                runs.append(Run(lib, entry, seed, tuned=entry.tuned and not no_tuned))
    return runs


@dataclasses.dataclass(frozen=True)
class Pattern:
    """``--only ALGO[:TASK[:SEEDS]]``: ALGO and TASK are shell-style patterns (case-insensitive;
    empty means any), SEEDS a list such as ``0-2,4``."""
    algo: str
    task: str
    seeds: frozenset[int] | None
    text: str

    @classmethod
    def parse(cls, text: str) -> Pattern:
        from experiments.sweep.spec import parse_seeds

        parts = text.split(":")
        if len(parts) > 3 or not text.strip():
            raise SuiteError(f"--only expects ALGO[:TASK[:SEEDS]] (e.g. dqn, sac:Pendulum-v1, :*Lunar*:0-2), "
                             f"got {text!r}")
        algo, task, seeds = (*parts, "", "")[:3]
        try:
            chosen = frozenset(parse_seeds(seeds)) if seeds.strip() else None
        except UsageError:
            raise SuiteError(f"--only {text!r}: seeds must be like 0-2,4, got {seeds!r}") from None
        return cls(algo.strip().lower() or "*", task.strip().lower() or "*", chosen, text)

    def matches(self, run: Run) -> bool:
        return (fnmatch.fnmatchcase(run.entry.algo.lower(), self.algo)
                and fnmatch.fnmatchcase(run.entry.env_id.lower(), self.task)
                and (self.seeds is None or run.seed in self.seeds))


def select(runs: list[Run], patterns: Sequence[str]) -> list[Run]:
    """The runs matching any of ``patterns`` (all of them when there is none); a pattern that
    matches nothing is a one-line error naming what there is."""
    if not patterns:
        return list(runs)
    parsed = [Pattern.parse(p) for p in patterns]
    for p in parsed:
        if not any(p.matches(r) for r in runs):
            algos = sorted({r.entry.algo for r in runs})
            tasks = sorted({r.entry.env_id for r in runs})
            raise SuiteError(f"--only {p.text!r} matches no run of the suite (algos: {', '.join(algos)}; "
                             f"tasks: {', '.join(tasks)})")
    return [r for r in runs if any(p.matches(r) for p in parsed)]
