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
import json
import math
import signal
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlnn

from .checkpoint import export_policy, save_agent
from .config import config_to_dict
from .evaluation import EVAL_SEED_OFFSET, EvalResult, evaluate
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


class OffPolicyTrainer:
    """Trains ``agent`` on ``env_id`` for ``total_steps`` env steps."""

    def __init__(self, agent: Any, env_id: str, total_steps: int, seed: int = 0, *,
                 env_kwargs: dict[str, Any] | None = None, run_dir: str | Path | None = None,
                 eval_freq: int = 0, eval_episodes: int = 10, checkpoint_freq: int = 0,
                 progress: bool = True, log: Callable[[str], None] | None = None,
                 run_info: dict[str, Any] | None = None, blas_threads: int | str | None = "auto",
                 lanes: int = 1,
                 on_eval: Callable[[OffPolicyTrainer, EvalResult], None] | None = None) -> None:
        self.blas_threads = blas_threads
        # Threads for work that can run side by side (agents.lanes): SAC/TD3's twin critics,
        # DQN's target network during a round. BLAS then runs one thread per caller, so
        # "auto" BLAS threads means 1.
        self.lanes = int(lanes)
        if self.lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        if self.lanes > 1 and not hasattr(agent, "lanes"):
            raise ValueError(f"{type(agent).__name__} has no work to run in lanes; use lanes=1")
        self.on_eval = on_eval  # e.g. report to a hyperparameter-search scheduler
        self.agent, self.env_id, self.seed = agent, env_id, int(seed)
        self.env_kwargs = dict(env_kwargs or {})
        self.total_steps = int(total_steps)
        self.eval_freq, self.eval_episodes, self.checkpoint_freq = int(eval_freq), int(eval_episodes), int(checkpoint_freq)
        self.progress, self.log = progress, log or (lambda msg: None)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_info = dict(run_info or {})
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
        """``gradient_steps`` minibatches, all sampled first, through the agent's
        ``train_round`` when it has one (an agent may share work across the round) or one
        ``train_step`` each."""
        c = self.agent.config
        batches = [self.replay.sample(c.batch_size, c.gamma, getattr(c, "n_step", 1)) for _ in range(c.gradient_steps)]
        train_round = getattr(self.agent, "train_round", None)
        if train_round is not None:
            return train_round(batches)
        return [self.agent.train_step(batch) for batch in batches]

    def _reset_episode(self) -> None:
        self.episode_seed = int(self.rng.integers(0, EVAL_SEED_OFFSET))
        self.obs, _ = self.env.reset(seed=self.episode_seed)
        self.episode_return, self.episode_length = 0.0, 0

    def run(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``total_steps`` (or ``stop_at``, to simulate an interruption).
        Ctrl-C stops at the end of the current step and saves a resumable checkpoint."""
        agent, replay, c = self.agent, self.replay, self.agent.config
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        if self.obs is None:
            self._reset_episode()
            if self.run_dir is not None:
                self._write_run_info()
        bar = ProgressBar(self.total_steps, start=self.step, enabled=self.progress)
        previous_handler = self._install_sigint()
        if hasattr(agent, "lanes"):
            agent.lanes.set_workers(self.lanes)
        if self.blas_threads == "auto":
            threads = blas_thread_limit(1 if self.lanes > 1 else choose_blas_threads(agent.config))
        else:
            threads = blas_thread_limit(self.blas_threads)
        t_start = time.perf_counter()
        metric_sums: dict[str, float] = {}
        metric_count = 0
        try:
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
                    for metrics in self._train_round():
                        for key, value in metrics.items():
                            metric_sums[key] = metric_sums.get(key, 0.0) + value
                        metric_count += 1
                    self.last_metrics = {k: v / metric_count for k, v in metric_sums.items()}
                    metric_sums, metric_count = {}, 0
                agent.on_step(self.step)
                if self.eval_freq and self.step % self.eval_freq == 0:
                    self._evaluate(time.perf_counter() - t_start)
                if self.run_dir is not None and self.checkpoint_freq and self.step % self.checkpoint_freq == 0:
                    self.save_checkpoints(periodic=True)
                bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None)
        finally:
            if hasattr(agent, "lanes"):
                agent.lanes.close()   # worker threads and a forked worker process end with the run
            if threads is not None:
                threads.restore_original_limits()
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
                "checkpoint_freq": self.checkpoint_freq, "blas_threads": self.blas_threads, "lanes": self.lanes,
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
        extra = {k: v for k, v in info.items() if k not in ("algo", "env_id", "env_kwargs", "seed", "total_steps",
                                                            "eval_freq", "eval_episodes", "checkpoint_freq", "config",
                                                            "blas_threads", "lanes")}
        trainer = cls(agent, info["env_id"], info["total_steps"], info["seed"], env_kwargs=info["env_kwargs"],
                      run_dir=run_dir, eval_freq=info["eval_freq"], eval_episodes=info["eval_episodes"],
                      checkpoint_freq=info["checkpoint_freq"], progress=progress, log=log, run_info=extra,
                      on_eval=on_eval, blas_threads=info.get("blas_threads", "auto"), lanes=info.get("lanes", 1))
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


def choose_blas_threads(config: Any) -> int:
    """BLAS threads for an agent's updates, from their size alone (so a seed still fixes the
    run): 2 where the matrices are big enough to share (batch × widest layer² ≥ 2^24, e.g.
    batch 256 with 256-wide layers), 1 otherwise. On a machine whose cores are already busy,
    pass ``blas_threads=1``: spinning BLAS threads then cost far more than they give."""
    import os

    width = max(getattr(config, "net_arch", [64]) or [64])
    big = getattr(config, "batch_size", 64) * width * width >= 2**24
    return min(os.cpu_count() or 1, 2) if big else 1


def blas_thread_limit(threads: int | None):
    """Limit BLAS to ``threads`` threads for the run (``None``: leave as is).

    Small-network updates are a few hundred microseconds of matmuls: a second BLAS thread
    buys little there, and on a busy machine its spin-waiting made updates 30x slower (measured
    here: 32 ms vs 1.1 ms per DQN update with 256-256 nets). Returns the limiter, or ``None``
    when threadpoolctl is unavailable.
    """
    if threads is None:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=int(threads), user_api="blas")
