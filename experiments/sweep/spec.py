"""A sweep's spec: reading and checking the TOML, the configurations it draws, and the spec of
``rlnn train --seeds``. Nothing here needs Ray; every problem is a one-line :class:`SpecError`."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.configs import RUN_KEYS, Layer, MergedConfig, merge_config
from experiments.errors import UsageError

SEARCH_KINDS = ("grid", "choice", "uniform", "loguniform")
METRICS = ("eval_mean_return", "eval_std_return")
SPEC_KEYS = {"name", "algo", "env_id", "total_steps", "eval_freq", "eval_episodes", "checkpoint_freq", "seed",
             "metric", "mode", "num_samples", "time_budget_s", "config", "env_kwargs", "search", "scheduler"}
SCHEDULER_KEYS = {"type", "grace_period", "reduction_factor"}


class SpecError(UsageError):
    """A bad sweep spec; the message is one line naming the offending key."""


@dataclasses.dataclass
class SweepSpec:
    """A validated sweep: what to train, what to vary, what to optimise, and the budget."""
    name: str
    algo: str
    env_id: str
    total_steps: int
    eval_freq: int
    eval_episodes: int = 10
    checkpoint_freq: int = 0  # env steps between a trial's periodic checkpoints (0: none)
    seed: int = 0  # used when the search does not vary the seed
    metric: str = "eval_mean_return"
    mode: str = "max"
    num_samples: int = 1
    time_budget_s: float | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    search: dict[str, dict[str, list[Any]]] = dataclasses.field(default_factory=dict)
    scheduler: dict[str, Any] | None = None
    config_layers: list[str] = dataclasses.field(default_factory=list)
    config_sources: dict[str, str] = dataclasses.field(default_factory=dict)
    """Where each fixed setting came from (see :class:`experiments.configs.MergedConfig`)."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSpec:
        """The spec :meth:`to_json` wrote (entries of older versions that no longer exist are dropped)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def merged_config(self) -> MergedConfig:
        """The fixed settings every trial starts from, with their provenance."""
        return MergedConfig(hyperparameters=dict(self.config), total_steps=self.total_steps,
                            eval_freq=self.eval_freq, eval_episodes=self.eval_episodes,
                            checkpoint_freq=self.checkpoint_freq, env_kwargs=dict(self.env_kwargs),
                            sources=dict(self.config_sources), layers=tuple(self.config_layers))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the 'ray' extra brings tomli
        try:
            import tomli as tomllib
        except ImportError:
            raise SpecError(f"reading {path} needs tomli on Python 3.10: pip install 'rlnn[ray]'") from None
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"sweep spec not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read sweep spec {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path} is not valid TOML: {exc}") from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML sweep spec (the name defaults to the file name)."""
    path = Path(path)
    data = _read_toml(path)
    data.setdefault("name", path.stem)
    return parse_spec(data, where=str(path))


def _int(data: dict[str, Any], key: str, where: str, default: int | None = None, minimum: int = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(f"{where}: {key!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _search_entry(key: str, entry: Any, where: str) -> dict[str, list[Any]]:
    """``{kind = [values]}`` with exactly one kind; ranges are two increasing numbers."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"{where}: search.{key} must be a table with one of {list(SEARCH_KINDS)}, "
                        f"e.g. {key} = {{choice = [1, 2]}}; got {entry!r}")
    (kind, values), = entry.items()
    if kind not in SEARCH_KINDS:
        raise SpecError(f"{where}: search.{key} has unknown kind {kind!r}; accepted: {list(SEARCH_KINDS)}")
    if not isinstance(values, list) or not values:
        raise SpecError(f"{where}: search.{key}.{kind} must be a non-empty list, got {values!r}")
    if kind in ("uniform", "loguniform"):
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) != 2 or not numeric or not values[0] < values[1]:
            raise SpecError(f"{where}: search.{key}.{kind} must be [low, high] with low < high, got {values!r}")
        if kind == "loguniform" and values[0] <= 0:
            raise SpecError(f"{where}: search.{key}.loguniform needs low > 0, got {values!r}")
    return {kind: list(values)}


def _scheduler(data: Any, total_steps: int, where: str) -> dict[str, Any] | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise SpecError(f"{where}: [scheduler] must be a table")
    unknown = sorted(set(data) - SCHEDULER_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown scheduler key(s) {unknown}; accepted: {sorted(SCHEDULER_KEYS)}")
    kind = data.get("type", "asha")
    if kind == "none":
        return None
    if kind != "asha":
        raise SpecError(f"{where}: scheduler.type must be 'asha' or 'none', got {kind!r}")
    grace = _int(data, "grace_period", where, default=max(total_steps // 10, 1), minimum=1)
    factor = data.get("reduction_factor", 3)
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or factor <= 1:
        raise SpecError(f"{where}: scheduler.reduction_factor must be a number > 1, got {factor!r}")
    return {"type": "asha", "grace_period": grace, "reduction_factor": factor}


def _merged(algo: str, env_id: str, layers: Sequence[Layer], tuned: bool, where: str) -> MergedConfig:
    try:
        return merge_config(algo, env_id, layers, tuned=tuned)
    except UsageError as exc:
        raise SpecError(f"{where}: {exc}") from None


def parse_spec(data: dict[str, Any], where: str = "spec", *, tuned: bool = True) -> SweepSpec:
    """Validate a spec dict: unknown keys, algorithm, search kinds, budget, metric and mode.

    The spec's ``[config]``, ``[env_kwargs]`` and budget are one layer over the tuned config
    file of (algo, env_id) (unless ``tuned`` is false), merged as ``rlnn train`` merges its
    ``--config``: the tuned file also supplies the budget the spec leaves out."""
    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; accepted: {sorted(SPEC_KEYS)}")
    for key in ("algo", "env_id"):
        if not isinstance(data.get(key), str):
            raise SpecError(f"{where}: {key!r} is required (a string)")
    for key in ("config", "env_kwargs", "search"):
        if not isinstance(data.get(key, {}), dict):
            raise SpecError(f"{where}: [{key}] must be a table")
    for key in ("total_steps", "eval_freq", "eval_episodes", "checkpoint_freq"):
        if key in data:
            _int(data, key, where, minimum=1 if key != "checkpoint_freq" else 0)
    run = {k: data[k] for k in RUN_KEYS if k in data}
    layer = Layer(f"spec {where}", data.get("config", {}), run)
    merged = _merged(data["algo"], data["env_id"], [layer], tuned, where)
    return _build(data, merged, where)


def _build(data: dict[str, Any], merged: MergedConfig, where: str) -> SweepSpec:
    """The spec from its checked parts and the merged fixed config."""
    import agents

    algo, env_id = data["algo"], data["env_id"]
    if algo not in agents.ALGORITHMS:
        raise SpecError(f"{where}: unknown algo {algo!r}; accepted: {sorted(agents.ALGORITHMS)}")
    if merged.eval_freq < 1:
        raise SpecError(f"{where}: 'eval_freq' must be at least 1: trials report their evaluations to Tune")
    metric, mode = data.get("metric", "eval_mean_return"), data.get("mode", "max")
    if metric not in METRICS:
        raise SpecError(f"{where}: metric must be one of {list(METRICS)} (what trials report), got {metric!r}")
    if mode not in ("max", "min"):
        raise SpecError(f"{where}: mode must be 'max' or 'min', got {mode!r}")
    budget = data.get("time_budget_s")
    if budget is not None and (not isinstance(budget, (int, float)) or isinstance(budget, bool) or budget <= 0):
        raise SpecError(f"{where}: time_budget_s must be a positive number of seconds, got {budget!r}")
    search = data.get("search", {})
    random_entries = [k for k, v in search.items() if not (isinstance(v, dict) and "grid" in v)]
    if data.get("num_samples", 1) != 1 and not random_entries:
        raise SpecError(f"{where}: num_samples draws choice/uniform/loguniform entries and [search] has none; "
                        f"vary seeds with seed = {{grid = [0, 1, 2]}}")
    name = data.get("name", f"{algo}_{env_id}")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.\-]+", name):
        raise SpecError(f"{where}: name must be letters, digits, '_', '-' or '.', got {name!r}")
    return SweepSpec(
        name=name, algo=algo, env_id=env_id, total_steps=merged.total_steps, eval_freq=merged.eval_freq,
        eval_episodes=merged.eval_episodes, checkpoint_freq=merged.checkpoint_freq,
        seed=_int(data, "seed", where, default=0), metric=metric, mode=mode,
        num_samples=_int(data, "num_samples", where, default=1, minimum=1), time_budget_s=budget,
        config=dict(merged.hyperparameters), env_kwargs=dict(merged.env_kwargs),
        search={k: _search_entry(k, v, where) for k, v in search.items()},
        scheduler=_scheduler(data.get("scheduler"), merged.total_steps, where),
        config_layers=list(merged.layers), config_sources=dict(merged.sources))


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → [0, 1, 2, 3, 4]; ``"0,3,7"`` → [0, 3, 7] (ranges and lists can be mixed)."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
    except ValueError:
        raise SpecError(f"--seeds expects A-B or a comma list of integers >= 0, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise SpecError(f"--seeds expects distinct seeds, got {text!r}")
    return seeds


def seeds_spec(algo: str, env_id: str, seeds: list[int], layers: Sequence[Layer] = (), *,
               tuned: bool = True) -> SweepSpec:
    """``rlnn train ALGO ENV --seeds A-B`` as a sweep: the settings ``rlnn train`` merges (tuned
    file, then ``layers``: ``--config``, ``--set``, the budget flags), a grid over ``seeds``."""
    where = "train --seeds"
    data = {"name": f"{algo}_{env_id.replace('/', '_')}_seeds", "algo": algo, "env_id": env_id,
            "search": {"seed": {"grid": list(seeds)}}}
    return _build(data, _merged(algo, env_id, layers, tuned, where), where)


def draw_samples(spec: SweepSpec) -> list[dict[str, Any]]:
    """The ``num_samples`` random configurations (choice / uniform / loguniform entries).

    Drawn here, with a fixed seed, rather than by Tune: Tune would draw new values for every grid
    point, and a configuration is only comparable across seeds if every seed trains the same one."""
    import numpy as np

    rng = np.random.default_rng(0)
    samples = []
    for _ in range(spec.num_samples):
        sample: dict[str, Any] = {}
        for key, entry in spec.search.items():
            (kind, values), = entry.items()
            if kind == "choice":
                sample[key] = values[int(rng.integers(len(values)))]
            elif kind == "uniform":
                sample[key] = float(rng.uniform(values[0], values[1]))
            elif kind == "loguniform":
                sample[key] = float(math.exp(rng.uniform(math.log(values[0]), math.log(values[1]))))
        samples.append(sample)
    return samples


def flat_params(config: dict[str, Any]) -> dict[str, Any]:
    """A trial's Tune config (grid values, and the drawn sample under ``"sample"``) as one flat dict."""
    return {**{k: v for k, v in config.items() if k != "sample"}, **config.get("sample", {})}


def trial_hyperparameters(spec: SweepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """The fixed config with a trial's values over it (the seed is not a hyperparameter)."""
    return {**spec.config, **{k: v for k, v in params.items() if k != "seed"}}


def make_agent(spec: SweepSpec, params: dict[str, Any]) -> Any:
    """The agent of one trial: fixed config, then the trial's sampled hyperparameters."""
    from experiments.training import make_agent as build

    return build(spec.algo, spec.env_id, trial_hyperparameters(spec, params), spec.env_kwargs,
                 int(params.get("seed", spec.seed)))


def check_spec(spec: SweepSpec) -> None:
    """Build the agent with a sample of the space: unknown or ill-typed hyperparameters (and a
    bad env id) fail here, in one line, before Ray starts."""
    import agents
    from agents.config import config_from_dict

    if "seed" in spec.search:
        grid = spec.search["seed"].get("grid")
        if grid is None or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in grid):
            raise SpecError(f"sweep {spec.name!r}: search.seed must be a grid of integers >= 0, "
                            f"e.g. seed = {{grid = [0, 1]}}")
    first_grid_point = {k: e["grid"][0] for k, e in spec.search.items() if "grid" in e}
    try:
        samples = draw_samples(spec)
        for sample in samples[1:]:  # cheap: every drawn configuration is type-checked
            config_from_dict(agents.ALGORITHMS[spec.algo].Config, trial_hyperparameters(spec, sample))
        make_agent(spec, {**first_grid_point, **samples[0]})  # also the env id and the agent's own checks
    except ValueError as exc:
        raise SpecError(f"sweep {spec.name!r}: {exc}") from None
