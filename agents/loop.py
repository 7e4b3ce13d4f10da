"""The off-policy training loop shared by DQN, SAC, TD3 and DDPG: collect, store, update, log,
evaluate, checkpoint.

Per env step::

    a = agent.explore(s, step)              # ε-greedy, noise, or uniform before learning_starts
    s', r, terminated, truncated = env.step(a);   replay.add(s, a, r, s', terminated, truncated)
    every train_freq steps (after learning_starts): sample gradient_steps minibatches, then
        agent.train_round(batches) (or agent.train_step on each)
    agent.on_step(step)                     # target-network schedule

A run folder (optional) receives ``run.json`` (what was run), ``metrics.csv`` (one row per
episode and per evaluation), ``checkpoints/step_<n>.npz`` (periodic), ``best.npz``,
``final.npz``, ``policy.npz`` (only what acting needs) and ``checkpoints/resume.npz`` (agent, replay memory, RNG states, counters).

Resuming is exact: every training episode resets with a seed drawn from the loop's own RNG,
and an episode cut short by the interruption is re-entered by resetting with its seed and
replaying its actions (the last ones in the replay memory), so an interrupted and resumed run
ends with the same parameters as an uninterrupted one (for deterministic environments).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlnn

from .blas import blas_threads
from .checkpoint import export_policy, save_agent
from .config import config_to_dict
from .evaluation import EVAL_SEED_OFFSET, EvalResult, evaluate
from .forked import fork_available
from .parallel import SERIAL, RowSplit, Serial, available_cores, choose_lanes, make_reducer, update_macs
from .progress import ProgressBar
from .replay import ReplayBuffer

METRIC_COLUMNS = ("kind", "step", "episode", "return", "length", "time", "steps_per_s",
                  "eval_mean_return", "eval_std_return")


def make_replay(agent: Any, seed: int) -> ReplayBuffer:
    space = agent.action_space
    if isinstance(space, gym.spaces.Discrete):
        shape, dtype = (), np.int64
    else:
        shape, dtype = space.shape, np.float32
    return ReplayBuffer(agent.config.buffer_size, agent.obs_dim, shape, dtype, rng=np.random.default_rng([seed, 1]))


@dataclass
class RunSettings:
    """How a run is carried out, apart from the agent and its hyperparameters: what ``rlnn
    train``'s flags and a sweep's trial set. ``lanes`` and ``blas_threads`` are "auto" by default
    (chosen from the update's size and the machine's cores, see :func:`agents.parallel.choose_lanes`)."""
    total_steps: int
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    run_dir: str | Path | None = None
    eval_freq: int = 0
    """Env steps between evaluations (0: none)."""
    eval_episodes: int = 10
    checkpoint_freq: int = 0
    """Env steps between periodic checkpoints (0: none; the resume point is still written at the end)."""
    progress: bool = True
    blas_threads: int | str = "auto"
    lanes: int | str = "auto"
    """Processes that split each batch's rows (:mod:`agents.parallel`); "auto" picks by update size."""
    run_info: dict[str, Any] = field(default_factory=dict)
    """Extra entries for ``run.json`` (the command line, where the config came from)."""

    def validate(self) -> None:
        for name in ("total_steps", "eval_episodes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("eval_freq", "checkpoint_freq"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be 0 (off) or positive, got {getattr(self, name)}")
        for name in ("blas_threads", "lanes"):
            value = getattr(self, name)
            if value != "auto" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be 'auto' or a positive whole number, got {value!r}")


class OffPolicyTrainer:
    """Trains ``agent`` on ``env_id`` as ``settings`` say (a bare number is the total env steps,
    everything else at its default). ``log`` receives one-line messages; ``on_eval(trainer,
    result)`` is called after every evaluation (e.g. to report to a hyperparameter search)."""

    def __init__(self, agent: Any, env_id: str, settings: RunSettings | int, *,
                 log: Callable[[str], None] | None = None,
                 on_eval: Callable[[OffPolicyTrainer, EvalResult], None] | None = None) -> None:
        settings = RunSettings(total_steps=settings) if isinstance(settings, int) else settings
        settings.validate()
        self.settings = settings
        self.on_eval = on_eval
        self.agent, self.env_id, self.seed = agent, env_id, int(settings.seed)
        self.env_kwargs = dict(settings.env_kwargs)
        self.total_steps = int(settings.total_steps)
        self.eval_freq, self.eval_episodes = int(settings.eval_freq), int(settings.eval_episodes)
        self.checkpoint_freq = int(settings.checkpoint_freq)
        self.progress, self.log = settings.progress, log or (lambda msg: None)
        self.run_dir = Path(settings.run_dir) if settings.run_dir is not None else None
        self.run_info = dict(settings.run_info)
        self.lanes, self.lanes_reason = resolve_lanes(agent, settings.lanes)
        self.blas_threads = 1 if settings.blas_threads == "auto" else int(settings.blas_threads)
        self.reducer: Serial | RowSplit = SERIAL
        self.env = gym.make(env_id, **self.env_kwargs)
        self._eval_env: gym.Env | None = None
        self.replay = make_replay(agent, self.seed)
        self.rng = np.random.default_rng([self.seed, 2])
        agent.total_steps = self.total_steps
        # Counters and the episode in progress.
        self.step = 0
        self.episode = 0
        self.episode_seed = 0
        self.episode_return = 0.0
        self.episode_length = 0
        self.best_eval = -math.inf
        self.recent_returns: deque[float] = deque(maxlen=20)
        self.last_metrics: dict[str, float] = {}
        self.last_eval: EvalResult | None = None
        self.wall_time = 0.0
        self.obs: np.ndarray | None = None
        self._stop_requested = False

    # -- the loop --------------------------------------------------------------------------
    def _train_round(self) -> list[dict[str, float]]:
        """``gradient_steps`` minibatches, all sampled first, through the agent's update and
        the data-parallel collaborator (one process, or rows split over several)."""
        c = self.agent.config
        batches = [self.replay.sample(c.batch_size, c.gamma, c.n_step) for _ in range(c.gradient_steps)]
        return self.reducer.run_round(self.agent, batches)

    def _reset_episode(self) -> None:
        self.episode_seed = int(self.rng.integers(0, EVAL_SEED_OFFSET))
        self.obs, _ = self.env.reset(seed=self.episode_seed)
        self.episode_return, self.episode_length = 0.0, 0

    def run(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``total_steps`` (or ``stop_at``, to simulate an interruption).
        Ctrl-C stops at the end of the current step and saves a resumable checkpoint."""
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        if self.obs is None:
            self._reset_episode()
            if self.run_dir is not None:
                self._write_run_info()
        self.log(f"{self.agent.algo} on {self.env_id}: {self.lanes} lane(s) ({self.lanes_reason}), "
                 f"{self.blas_threads} BLAS thread(s)")
        bar = ProgressBar(self.total_steps, start=self.step, enabled=self.progress)
        previous_handler = self._install_sigint()
        self.reducer = make_reducer(self.lanes)
        t_start = time.perf_counter()
        try:
            with blas_threads(self.blas_threads):
                self._steps(end, bar, t_start)
        finally:
            self.reducer.close()       # the forked workers end with the run
            self.wall_time += time.perf_counter() - t_start
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None, force=True)
            bar.close()
        if self._stop_requested:
            self.log(f"interrupted at step {self.step}: saving a resumable checkpoint")
            if self.run_dir is not None:
                self.save_checkpoints(periodic=False)
        elif self.step >= self.total_steps and self.run_dir is not None:
            self.save_checkpoints(periodic=False, final=True)
        return self.summary()

    def _steps(self, end: int, bar: ProgressBar, t_start: float) -> None:
        """The loop itself: act, store, train every ``train_freq`` steps, evaluate, checkpoint."""
        agent, replay, c = self.agent, self.replay, self.agent.config
        while self.step < end and not self._stop_requested:
            action = agent.explore(self.obs, self.step)
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            replay.add(self.obs, action, reward, next_obs, terminated, truncated)
            self.obs = next_obs
            self.step += 1
            self.episode_return += float(reward)
            self.episode_length += 1
            if terminated or truncated:
                self._end_episode(time.perf_counter() - t_start)
            if self.step > c.learning_starts and self.step % c.train_freq == 0:
                rounds = self._train_round()
                self.last_metrics = {key: sum(m[key] for m in rounds) / len(rounds) for key in rounds[0]}
            agent.on_step(self.step)
            if self.eval_freq and self.step % self.eval_freq == 0:
                self._evaluate(time.perf_counter() - t_start)
            if self.run_dir is not None and self.checkpoint_freq and self.step % self.checkpoint_freq == 0:
                self.save_checkpoints(periodic=True)
            bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None)

    def _install_sigint(self):
        def handler(signum, frame):
            if self._stop_requested:  # a second Ctrl-C stops at once
                raise KeyboardInterrupt
            self._stop_requested = True
        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:  # not in the main thread: no handler, Ctrl-C behaves as usual
            return None

    def _end_episode(self, elapsed: float) -> None:
        self.episode += 1
        self.recent_returns.append(self.episode_return)
        self._write_metrics({"kind": "episode", "step": self.step, "episode": self.episode,
                             "return": self.episode_return, "length": self.episode_length,
                             "time": self.wall_time + elapsed,
                             "steps_per_s": self.step / max(self.wall_time + elapsed, 1e-9),
                             **self.last_metrics})
        self._reset_episode()

    def _evaluate(self, elapsed: float) -> EvalResult:
        if self._eval_env is None:
            self._eval_env = gym.make(self.env_id, **self.env_kwargs)
        result = evaluate(lambda o: self.agent.act(o, deterministic=True), self._eval_env, self.eval_episodes)
        self.last_eval = result
        self._write_metrics({"kind": "eval", "step": self.step, "episode": self.episode,
                             "time": self.wall_time + elapsed,
                             "eval_mean_return": result.mean_return, "eval_std_return": result.std_return,
                             **{f"eval_{k}": v for k, v in result.info_means().items()}})
        self.log(f"step {self.step}: eval mean return {result.mean_return:.2f} ± {result.std_return:.2f}")
        if result.mean_return > self.best_eval:
            self.best_eval = result.mean_return
            if self.run_dir is not None:
                save_agent(self.agent, self.run_dir / "best.npz", self._agent_extra())
        if self.on_eval is not None:
            self.on_eval(self, result)
        return result

    def summary(self) -> dict[str, Any]:
        return {"steps": self.step, "episodes": self.episode, "wall_time_s": self.wall_time,
                "steps_per_s": self.step / max(self.wall_time, 1e-9),
                "recent_mean_return": float(np.mean(self.recent_returns)) if self.recent_returns else None,
                "last_eval_mean_return": self.last_eval.mean_return if self.last_eval else None,
                "interrupted": self._stop_requested}

    # -- run folder ------------------------------------------------------------------------
    def _agent_extra(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "env_kwargs": self.env_kwargs, "step": self.step, "seed": self.seed}

    def _write_run_info(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        info = {"algo": self.agent.algo, "env_id": self.env_id, "env_kwargs": self.env_kwargs, "seed": self.seed,
                "total_steps": self.total_steps, "eval_freq": self.eval_freq, "eval_episodes": self.eval_episodes,
                "checkpoint_freq": self.checkpoint_freq, "blas_threads": self.settings.blas_threads, "lanes": self.lanes,
                "config": config_to_dict(self.agent.config), **self.run_info}
        (self.run_dir / "run.json").write_text(json.dumps(info, indent=2) + "\n")

    def _write_metrics(self, row: dict[str, Any]) -> None:
        if self.run_dir is None:
            return
        path = self.run_dir / "metrics.csv"
        columns = list(METRIC_COLUMNS) + [m for m in getattr(self.agent, "metric_names", ())]
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})

    def save_checkpoints(self, periodic: bool, final: bool = False) -> None:
        """Write the resumable state, and the policy-only periodic / final checkpoints."""
        ckpt = self.run_dir / "checkpoints"
        extra = self._agent_extra()
        if periodic:
            save_agent(self.agent, ckpt / f"step_{self.step}.npz", extra)
        if final:
            save_agent(self.agent, self.run_dir / "final.npz", extra)
            export_policy(self.agent, self.run_dir / "policy.npz", extra)
        agent_arrays, agent_meta = self.agent.state_dict()
        replay_arrays, replay_meta = self.replay.state_dict()
        arrays = {**{f"agent:{k}": v for k, v in agent_arrays.items()},
                  **{f"replay:{k}": v for k, v in replay_arrays.items()}}
        meta = {"kind": "resume", "algo": self.agent.algo, "agent": agent_meta, "replay": replay_meta,
                "trainer": {"step": self.step, "episode": self.episode, "episode_seed": self.episode_seed,
                            "episode_return": self.episode_return, "episode_length": self.episode_length,
                            "best_eval": self.best_eval if math.isfinite(self.best_eval) else None,
                            "rng": self.rng.bit_generator.state, "wall_time": self.wall_time,
                            "recent_returns": list(self.recent_returns), "last_metrics": self.last_metrics}}
        rlnn.save_arrays(ckpt / "resume.npz", arrays, meta)

    @classmethod
    def resume(cls, run_dir: str | Path, progress: bool = True, log: Callable[[str], None] | None = None,
               on_eval: Callable[[OffPolicyTrainer, EvalResult], None] | None = None) -> OffPolicyTrainer:
        """Rebuild a trainer from ``run_dir/checkpoints/resume.npz`` to continue where it stopped."""
        from . import ALGORITHMS

        run_dir = Path(run_dir)
        info_path, ckpt_path = run_dir / "run.json", run_dir / "checkpoints" / "resume.npz"
        if not info_path.is_file() or not ckpt_path.is_file():
            raise ValueError(f"{run_dir} is not a resumable run folder (needs run.json and checkpoints/resume.npz)")
        info = json.loads(info_path.read_text())
        arrays, meta = rlnn.load_arrays(ckpt_path)
        if meta.get("kind") != "resume":
            raise ValueError(f"{ckpt_path}: not a resume checkpoint")
        agent_arrays = {k[len("agent:"):]: v for k, v in arrays.items() if k.startswith("agent:")}
        replay_arrays = {k[len("replay:"):]: v for k, v in arrays.items() if k.startswith("replay:")}
        agent = ALGORITHMS[meta["algo"]].from_state_dict(agent_arrays, meta["agent"])
        names = {f.name for f in dataclasses.fields(RunSettings)} - {"run_dir", "progress", "run_info"}
        settings = RunSettings(**{k: info[k] for k in names if k in info}, run_dir=run_dir, progress=progress,
                               run_info={k: v for k, v in info.items() if k not in names | {"algo", "config"}})
        trainer = cls(agent, info["env_id"], settings, log=log, on_eval=on_eval)
        trainer.replay.load_state_dict(replay_arrays, meta["replay"])
        t = meta["trainer"]
        trainer.step, trainer.episode = int(t["step"]), int(t["episode"])
        trainer.best_eval = t["best_eval"] if t["best_eval"] is not None else -math.inf
        trainer.rng.bit_generator.state = t["rng"]
        trainer.wall_time = float(t["wall_time"])
        trainer.recent_returns.extend(t["recent_returns"])
        trainer.last_metrics = dict(t["last_metrics"])
        # Re-enter the episode in progress: same seed, same actions.
        trainer.episode_seed = int(t["episode_seed"])
        trainer.obs, _ = trainer.env.reset(seed=trainer.episode_seed)
        for action in trainer.replay.last_actions(int(t["episode_length"])):
            trainer.obs, *_ = trainer.env.step(action if action.ndim else action.item())
        trainer.episode_return, trainer.episode_length = float(t["episode_return"]), int(t["episode_length"])
        trainer._truncate_metrics()
        return trainer

    def _truncate_metrics(self) -> None:
        """Drop metric rows logged after the checkpoint (they will be produced again)."""
        path = self.run_dir / "metrics.csv"
        if not path.exists():
            return
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else None
        if header is None:
            return
        kept = [r for r in rows if int(r["step"]) <= self.step]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(header))
            writer.writeheader()
            writer.writerows(kept)


def resolve_lanes(agent: Any, lanes: int | str) -> tuple[int, str]:
    """``(processes, why)`` for a ``lanes`` setting: "auto" picks from the update's size and
    the machine's cores (:func:`agents.parallel.choose_lanes`); a number is taken as it is."""
    if lanes == "auto":
        chosen = choose_lanes(agent)
        return chosen, f"auto: {update_macs(agent) / 1e6:.1f}M multiply-adds per update, {available_cores()} core(s)"
    lanes = int(lanes)
    if lanes > 1 and not fork_available():
        raise ValueError(f"lanes={lanes} splits rows over forked processes, which needs Linux; use lanes=1")
    return lanes, "as set"
