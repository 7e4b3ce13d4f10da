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

import dataclasses
import math
import signal
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

import rlnn

from .blas import blas_threads
from .checkpoint import agent_from_state, export_policy, save_agent
from .config import OffPolicyConfig, RunSettings, config_to_dict
from .evaluation import EVAL_SEED_OFFSET, EvalResult, evaluate
from .parallel import SERIAL, Reducer, RowSplit, Serial, make_reducer, resolve_lanes
from .progress import ProgressBar
from .replay import Batch, ReplayBuffer
from .run_folder import RunFolder, RunFolderError

METRIC_COLUMNS = ("kind", "step", "episode", "return", "length", "time", "steps_per_s",
                  "eval_mean_return", "eval_std_return")


class OffPolicyAgent(Protocol):
    """What the training loop relies on; DQN, SAC, TD3 and DDPG have it (no base class)."""
    algo: str
    config: OffPolicyConfig
    action_space: gym.spaces.Space
    obs_dim: int
    metric_names: tuple[str, ...]
    total_steps: int

    def explore(self, obs: np.ndarray, step: int) -> Any: ...
    def act(self, obs: np.ndarray, deterministic: bool = True) -> Any: ...
    def prepare(self, batches: list[Batch]) -> list[Batch]: ...
    def train_round(self, batches: list[Batch], reducer: Reducer) -> list[dict[str, float]]: ...
    def on_step(self, step: int) -> None: ...
    def parallel_modules(self) -> list[tuple[rlnn.Module, rlnn.optim.Optimizer | None]]: ...
    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]: ...


def make_replay(agent: OffPolicyAgent, seed: int) -> ReplayBuffer:
    space = agent.action_space
    if isinstance(space, gym.spaces.Discrete):
        shape, dtype = (), np.int64
    else:
        shape, dtype = space.shape, np.float32
    return ReplayBuffer(agent.config.buffer_size, agent.obs_dim, shape, dtype, rng=np.random.default_rng([seed, 1]))


class TrainingDiverged(ValueError):
    """A loss became NaN or infinite (one line: where, and what to do)."""


class OffPolicyTrainer:
    """Trains ``agent`` on ``env_id`` as ``settings`` say (a bare number is the total env steps,
    everything else at its default). ``log`` receives one-line messages; ``on_eval(trainer,
    result)`` is called after every evaluation (e.g. to report to a hyperparameter search)."""

    def __init__(self, agent: OffPolicyAgent, env_id: str, settings: RunSettings | int, *,
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
        self.folder = RunFolder(self.run_dir) if self.run_dir is not None else None
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
        self._diverged = False
        self._resumed = False

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
        fresh = self.obs is None
        if self.folder is not None:
            self.folder.claim(fresh=fresh and not self._resumed, overwrite=self.settings.overwrite)
        if fresh:
            self._reset_episode()
            if self.folder is not None:
                self._write_run_info()
                self.save_checkpoints(periodic=False)     # resumable from the first step on
        self.log(f"{self.agent.algo} on {self.env_id}: {self.lanes} lane(s) ({self.lanes_reason}), "
                 f"{self.blas_threads} BLAS thread(s)")
        bar = ProgressBar(self.total_steps, start=self.step, enabled=self.progress)
        previous_handlers = self._install_stop_handlers()
        self.reducer = make_reducer(self.lanes)
        t_start = time.perf_counter()
        try:
            with blas_threads(self.blas_threads):
                self._steps(end, bar, t_start)
        finally:
            self.reducer.close()       # the forked workers end with the run
            self.wall_time += time.perf_counter() - t_start
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None, force=True)
            bar.close()
            if self.folder is not None and not self._diverged:
                if self._stop_requested:
                    self.log(f"interrupted at step {self.step}: saving a resumable checkpoint")
                    self.save_checkpoints(periodic=False)
                elif self.step >= self.total_steps:
                    self.save_checkpoints(periodic=False, final=True)
            if self.folder is not None:
                self.folder.release()
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
                self._check_finite(self.last_metrics)
            agent.on_step(self.step)
            if self.eval_freq and self.step % self.eval_freq == 0:
                self._evaluate(time.perf_counter() - t_start)
            if self.run_dir is not None and self.checkpoint_freq and self.step % self.checkpoint_freq == 0:
                self.save_checkpoints(periodic=True)
            bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None)

    def _install_stop_handlers(self) -> dict[int, Any]:
        """Ctrl-C and SIGTERM stop at the end of the current step, and the run saves a resumable
        checkpoint; a second one stops at once. Returns the handlers to put back."""
        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = True
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[signum] = signal.signal(signum, handler)
            except ValueError:  # not in the main thread: no handler, signals behave as usual
                break
        return previous

    def _check_finite(self, metrics: dict[str, float]) -> None:
        """Stop with one line when a loss became NaN or infinite: the parameters it produced
        are not saved over the last good checkpoint."""
        bad = sorted(key for key, value in metrics.items() if not math.isfinite(value))
        if bad:
            self._diverged = True
            where = f"; the last good checkpoint is {self.folder.resume_path}" if self.folder else ""
            raise TrainingDiverged(
                f"training diverged at step {self.step}: {', '.join(bad)} became {metrics[bad[0]]}{where}. "
                f"Lower learning_rate (--set learning_rate=...) and start again, or resume from it with --resume")

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
        info = {"algo": self.agent.algo, "env_id": self.env_id, "env_kwargs": self.env_kwargs, "seed": self.seed,
                "total_steps": self.total_steps, "eval_freq": self.eval_freq, "eval_episodes": self.eval_episodes,
                "checkpoint_freq": self.checkpoint_freq, "blas_threads": self.settings.blas_threads, "lanes": self.lanes,
                "config": config_to_dict(self.agent.config), **self.run_info}
        self.folder.write_info(info)

    def _write_metrics(self, row: dict[str, Any]) -> None:
        if self.folder is not None:
            self.folder.append_metrics(row, list(METRIC_COLUMNS) + list(self.agent.metric_names))

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
               on_eval: Callable[[OffPolicyTrainer, EvalResult], None] | None = None,
               total_steps: int | None = None) -> OffPolicyTrainer:
        """Rebuild a trainer from ``run_dir/checkpoints/resume.npz`` to continue where it stopped
        (to ``total_steps``, when given: a run extended to more steps). A folder that cannot be
        resumed is a one-line :class:`~agents.run_folder.RunFolderError`."""
        from . import ALGORITHMS
        from .safety import registered_env_id, shown

        folder = RunFolder(run_dir)
        info = folder.read_info()
        if not folder.resume_path.is_file():
            raise RunFolderError(f"{folder.path} has no checkpoints/resume.npz to resume from")
        try:
            arrays, meta = rlnn.load_arrays(folder.resume_path)
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"{folder.resume_path} cannot be read: {exc}") from None
        algo = meta.get("algo")
        if meta.get("kind") != "resume" or algo not in ALGORITHMS:
            raise RunFolderError(f"{folder.resume_path} is not a resume checkpoint of a known algorithm")
        if info.get("algo") != algo:
            raise RunFolderError(f"{folder.path}: run.json records {info.get('algo')!r} but the resume checkpoint "
                                 f"holds {algo!r}; the run folder is damaged")
        try:
            env_id = registered_env_id(info.get("env_id"), str(folder.info_path))
            agent = agent_from_state({k[6:]: v for k, v in arrays.items() if k.startswith("agent:")}, meta["agent"],
                                     str(folder.resume_path), algo=algo)
            names = {f.name for f in dataclasses.fields(RunSettings)} - {"run_dir", "progress", "run_info", "overwrite"}
            settings = RunSettings(**{k: info[k] for k in names if k in info}, run_dir=folder.path, progress=progress,
                                   run_info={k: v for k, v in info.items() if k not in names | {"algo", "config"}})
            t = meta["trainer"]
            if total_steps is not None:
                if total_steps < int(t["step"]):
                    raise RunFolderError(f"{folder.path} is already at step {t['step']}; --steps {total_steps} "
                                         f"would not extend it")
                settings.total_steps = int(total_steps)
            trainer = cls(agent, env_id, settings, log=log, on_eval=on_eval)
            trainer.replay.load_state_dict({k[7:]: v for k, v in arrays.items() if k.startswith("replay:")},
                                           meta["replay"])
            trainer._restore(t)
        except RunFolderError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RunFolderError(f"{folder.resume_path} does not match its run ({type(exc).__name__}: "
                                 f"{shown(str(exc), 300)}); the run folder is damaged") from None
        if total_steps is not None and total_steps != info.get("total_steps"):
            trainer._write_run_info()      # run.json says how far the run now goes
        folder.truncate_metrics(trainer.step)
        return trainer

    def _restore(self, t: dict[str, Any]) -> None:
        """The loop's counters from a resume checkpoint, and the episode in progress re-entered:
        the same reset seed, the same actions (the last ones in the replay memory)."""
        self._resumed = True
        self.step, self.episode = int(t["step"]), int(t["episode"])
        self.best_eval = t["best_eval"] if t["best_eval"] is not None else -math.inf
        self.rng.bit_generator.state = t["rng"]
        self.wall_time = float(t["wall_time"])
        self.recent_returns.extend(t["recent_returns"])
        self.last_metrics = dict(t["last_metrics"])
        self.episode_seed = int(t["episode_seed"])
        self.obs, _ = self.env.reset(seed=self.episode_seed)
        for action in self.replay.last_actions(int(t["episode_length"])):
            self.obs, *_ = self.env.step(action if action.ndim else action.item())
        self.episode_return, self.episode_length = float(t["episode_return"]), int(t["episode_length"])
