"""What every trainer shares: the env (an id, an env, a factory or a vector env, through
:mod:`agents.collection`), the run folder, the metric sinks, callbacks, evaluation, checkpoints,
Ctrl-C, and exact resume. :class:`~agents.loop.OffPolicyTrainer` (DQN, SAC, TD3, DDPG) and
:class:`~agents.on_policy.OnPolicyTrainer` (PPO, A2C) are the two kinds; each says only what it
learns from and when. Per loop step (:meth:`Trainer._steps`)::

    collect one step of every env (n_envs transitions), step += n_envs; log the episodes that ended
    self._learn(before)                  # the kind's update, when one is due
    evaluate / checkpoint when step crosses a multiple of eval_freq / checkpoint_freq; callbacks' on_step

What a kind defines::

    _memory()              what the collector writes each transition into and re-enters the
                           episodes in progress from on resuming (the replay memory off-policy; the
                           rollout and the actions of the episodes in progress on-policy); its
                           state_dict is saved in checkpoints/resume.npz as "replay:..." arrays
    _learn(before)         after a loop step that took the count from ``before`` to ``self.step``
    _announce()            the lines a run starts with
    _lanes(agent, lanes)   how many processes split an update's rows, and why

A run folder (optional) receives ``run.json`` (``env_id`` null for an env without a registered
id), ``metrics.csv`` (a row per episode of any sub-env and per evaluation; callbacks' metrics
too), TensorBoard event files (``tensorboard/`` when ``settings.tensorboard``, :mod:`agents.sinks`),
``checkpoints/step_<n>.npz``, ``best.npz``, ``final.npz``, ``policy.npz`` (only what acting
needs) and ``checkpoints/resume.npz`` (agent, memory, RNG states, counters). A callback
(:mod:`agents.callbacks`) that stops a run ends it as a finished one; the summary says why.

Resuming is exact: every episode of every sub-env resets with a seed drawn from the loop's own
RNG, and an episode cut short is re-entered by resetting with its seed and replaying its actions
(the last ones in the memory), so an interrupted and resumed run ends with the parameters of an
uninterrupted one (for deterministic envs). ``resume(run_dir, env=...)`` takes the env again for
a run that had no env id.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import rlnn

from .blas import blas_threads
from .callbacks import Callback, Callbacks, EvalFunction
from .checkpoint import export_policy, save_agent
from .collection import EnvLike, EnvSource, SingleEnv, VectorEnvs
from .config import RunSettings, config_to_dict
from .evaluation import EvalResult, evaluate
from .parallel import SERIAL, RowSplit, Serial, make_reducer, resolve_lanes
from .progress import ProgressBar
from .run_folder import RunFolder, RunFolderError
from .sinks import CsvLog, TensorBoardLog

METRIC_COLUMNS = ("kind", "step", "episode", "return", "length", "time", "steps_per_s",
                  "eval_mean_return", "eval_std_return")
EvalEnv = gym.Env | Callable[[], gym.Env] | None


class TrainingDiverged(ValueError):
    """A loss became NaN or infinite (one line: where, and what to do)."""


class Trainer:
    """Trains ``agent`` on ``env`` (an id, an env, a factory or a vector env) as ``settings`` say
    (a bare number is the total env steps, everything else at its default). ``callbacks``:
    :class:`~agents.callbacks.Callback` objects; ``on_eval(trainer, result)`` is called after
    every evaluation (e.g. to report to a hyperparameter search); ``eval_env`` an env or factory
    to evaluate on (else one made like ``env``, or from its spec); ``log`` receives one-line
    messages. Bad input is a one-line ``ValueError``. A kind of trainer subclasses this and
    defines :meth:`_memory`, :meth:`_learn` and :meth:`_announce` (module docstring)."""

    def __init__(self, agent: Any, env: EnvLike, settings: RunSettings | int, *,
                 callbacks: Iterable[Callback] = (), log: Callable[[str], None] | None = None,
                 on_eval: Callable[[Trainer, EvalResult], None] | None = None,
                 eval_env: EvalEnv = None) -> None:
        settings = RunSettings(total_steps=settings) if isinstance(settings, int) else settings
        settings.validate()
        self.settings, self.on_eval, self.seed = settings, on_eval, int(settings.seed)
        self.callbacks = Callbacks([*([EvalFunction(on_eval)] if on_eval is not None else []), *callbacks],
                                   taken=(*METRIC_COLUMNS, *agent.metric_names))
        self.env_kwargs = dict(settings.env_kwargs)
        self.total_steps = int(settings.total_steps)
        self.eval_freq, self.eval_episodes = int(settings.eval_freq), int(settings.eval_episodes)
        self.checkpoint_freq = int(settings.checkpoint_freq)
        self.progress, self.log = settings.progress, log or (lambda msg: None)
        self.run_dir = Path(settings.run_dir) if settings.run_dir is not None else None
        self.folder = RunFolder(self.run_dir) if self.run_dir is not None else None
        if settings.tensorboard and self.run_dir is None:
            raise ValueError("tensorboard=True needs a run_dir (event files go into run_dir/tensorboard)")
        self.run_info = dict(settings.run_info)
        self.columns = [*METRIC_COLUMNS, *agent.metric_names, *self.callbacks.columns]
        self.lanes, self.lanes_reason = self._lanes(agent, settings.lanes)
        self.blas_threads = 1 if settings.blas_threads == "auto" else int(settings.blas_threads)
        self.reducer: Serial | RowSplit = SERIAL
        self.source = EnvSource(env, self.env_kwargs, agent.config.n_envs, agent.config.vec_env, eval_env,
                                processes=self._env_processes())
        self.source.check(agent, self.eval_freq)
        self.env, self.env_id, self.n_envs = self.source.env, self.source.env_id, self.source.n_envs
        if agent.config.n_envs != self.n_envs:      # a vector env given: the config says what ran
            agent.config = dataclasses.replace(agent.config, n_envs=self.n_envs)
        self.agent = agent
        self.replay = self._memory()
        self.rng = np.random.default_rng([self.seed, 2])
        self.collector = (SingleEnv if self.n_envs == 1 and isinstance(self.env, gym.Env) else VectorEnvs)(
            self.env, agent, self.replay, self.rng)
        agent.total_steps = self.total_steps
        # Counters.
        self.step = 0
        self.episode = 0
        self.best_eval = -math.inf
        self.recent_returns: deque[float] = deque(maxlen=20)
        self.last_metrics: dict[str, float] = {}
        self.last_eval: EvalResult | None = None
        self.wall_time = 0.0
        self.stop_reason: str | None = None
        self.sinks: list[CsvLog | TensorBoardLog] | None = None
        self._started = False
        self._halt = False
        self._stop_requested = False
        self._diverged = False
        self._resumed = False

    @property
    def episode_length(self) -> Any:
        """Steps into the episode in progress (an array of one per sub-env with ``n_envs > 1``)."""
        c = self.collector
        return c.episode_length if isinstance(c, SingleEnv) else c.episode_lengths

    def stop(self, reason: str = "stopped by a callback") -> None:
        """End the run at the end of the current step, as a finished one (final checkpoint)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._halt = True

    def close(self) -> None:
        """Close the envs this trainer made (an async vector env's processes)."""
        self.source.close()

    # -- what a kind of trainer defines ------------------------------------------------------
    def _lanes(self, agent: Any, lanes: int | str) -> tuple[int, str]:
        """``(processes, why)``: the processes that split each update's rows (:mod:`agents.parallel`)."""
        return resolve_lanes(agent, lanes)

    def _env_processes(self) -> int:
        """Processes that share the stepping of the sub-envs (the lanes split updates instead)."""
        return 1

    def _memory(self) -> Any:
        """What the collector stores each transition in and replays the episodes in progress from
        (``add``, ``add_batch``, ``last_actions``, ``action_shape``, ``state_dict``, ``load_state_dict``)."""
        raise NotImplementedError

    def _learn(self, before: int) -> None:
        """The update, when one is due after the loop step from ``before`` to ``self.step``."""
        raise NotImplementedError

    def _announce(self) -> None:
        """The lines a run starts with (through ``self.log``)."""

    # -- the loop --------------------------------------------------------------------------
    def run(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``total_steps`` (or ``stop_at``, to simulate an interruption), or until a
        callback stops the run. Ctrl-C stops at the end of the current step and saves a resumable
        checkpoint."""
        end = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        if self.folder is not None:
            self.folder.claim(fresh=not self._started and not self._resumed, overwrite=self.settings.overwrite)
        if not self._started:
            self.collector.start()
            self._started = True
            if self.folder is not None:
                self._write_run_info()
                self.save_checkpoints(periodic=False)     # resumable from the first step on
        self._open_sinks()
        self._announce()
        self.stop_reason, self._halt = None, self._stop_requested
        bar = ProgressBar(self.total_steps, start=self.step, enabled=self.progress)
        previous_handlers = self._install_stop_handlers()
        self.reducer = make_reducer(self.lanes)
        t_start = time.perf_counter()
        try:
            self.callbacks.on_start(self)
            with blas_threads(self.blas_threads):
                self._steps(end, bar, t_start)
        finally:
            self.reducer.close()       # the forked workers end with the run
            self.wall_time += time.perf_counter() - t_start
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
            bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None, force=True)
            bar.close()
            if self.stop_reason is not None:
                self.log(f"stopped at step {self.step}: {self.stop_reason}")
            if self.folder is not None and not self._diverged:
                if self._stop_requested:
                    self.log(f"interrupted at step {self.step}: saving a resumable checkpoint")
                    self.save_checkpoints(periodic=False)
                elif self.step >= self.total_steps or self.stop_reason is not None:
                    self.save_checkpoints(periodic=False, final=True)
            if self.folder is not None:
                self.folder.release()
        return self.summary()

    def _steps(self, end: int, bar: ProgressBar, t_start: float) -> None:
        """The loop itself: collect, learn when due, evaluate, checkpoint."""
        collect, n = self.collector.collect, self.n_envs
        on_step = self.callbacks.on_step if self.callbacks.step else None    # nothing to call: no cost
        while self.step < end and not self._halt:
            finished = collect(self.step)
            before = self.step
            self.step += n
            for index, episode_return, length in finished:
                self._end_episode(index, episode_return, length, time.perf_counter() - t_start)
            self._learn(before)
            if self.eval_freq and self.step // self.eval_freq > before // self.eval_freq:
                self._evaluate(time.perf_counter() - t_start)
            if self.run_dir is not None and self.checkpoint_freq and \
                    self.step // self.checkpoint_freq > before // self.checkpoint_freq:
                self.save_checkpoints(periodic=True)
            if on_step is not None:
                on_step(self)
            bar.update(self.step, self.recent_returns[-1] if self.recent_returns else None)

    def _install_stop_handlers(self) -> dict[int, Any]:
        """Ctrl-C and SIGTERM stop at the end of the current step, and the run saves a resumable
        checkpoint; a second one stops at once. Returns the handlers to put back."""
        def handler(signum, frame):
            if self._stop_requested:
                raise KeyboardInterrupt
            self._stop_requested = self._halt = True
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

    def _end_episode(self, index: int, episode_return: float, length: int, elapsed: float) -> None:
        self._agent_episode_end(index)
        self.episode += 1
        self.recent_returns.append(episode_return)
        self._write_metrics({"kind": "episode", "step": self.step, "episode": self.episode,
                             "return": episode_return, "length": length, "time": self.wall_time + elapsed,
                             "steps_per_s": self.step / max(self.wall_time + elapsed, 1e-9),
                             **self.last_metrics, **self.callbacks.values(self)})
        if self.callbacks.episode_end:
            self.callbacks.on_episode_end(self, {"episode": self.episode, "step": self.step, "return": episode_return,
                                                 "length": length, "env": index})

    def _agent_episode_end(self, index: int) -> None:
        """Tell the agent that sub-env ``index`` finished an episode (an off-policy agent's
        exploration noise starts a new sequence there); on-policy rollouts need no word."""

    def _evaluate(self, elapsed: float) -> EvalResult:
        env = self.source.eval_env()
        t_eval = time.perf_counter()
        result = evaluate(lambda o: self.agent.act(o, deterministic=True), env, self.eval_episodes)
        self.last_eval = result
        if self.folder is not None:   # "time": the run's wall time when the evaluation began
            self.folder.append_eval({"step": self.step, "time": self.wall_time + elapsed, "unix_time": time.time(),
                                     "eval_seconds": time.perf_counter() - t_eval, **result.to_json()})
        self._write_metrics({"kind": "eval", "step": self.step, "episode": self.episode,
                             "time": self.wall_time + elapsed,
                             "eval_mean_return": result.mean_return, "eval_std_return": result.std_return,
                             **{f"eval_{k}": v for k, v in result.info_means().items()}})
        self.log(f"step {self.step}: eval mean return {result.mean_return:.2f} ± {result.std_return:.2f}")
        if result.mean_return > self.best_eval:
            self.best_eval = result.mean_return
            if self.run_dir is not None:
                save_agent(self.agent, self.run_dir / "best.npz", self._agent_extra())
        self.callbacks.on_eval(self, result)
        return result

    def summary(self) -> dict[str, Any]:
        return {"steps": self.step, "episodes": self.episode, "wall_time_s": self.wall_time,
                "steps_per_s": self.step / max(self.wall_time, 1e-9),
                "recent_mean_return": float(np.mean(self.recent_returns)) if self.recent_returns else None,
                "last_eval_mean_return": self.last_eval.mean_return if self.last_eval else None,
                "interrupted": self._stop_requested, "stopped": self.stop_reason}

    # -- run folder ------------------------------------------------------------------------
    def _agent_extra(self) -> dict[str, Any]:
        extra = {"env_id": self.env_id} if self.env_id is not None else {}
        return {**extra, "env_kwargs": self.env_kwargs, "step": self.step, "seed": self.seed}

    def _write_run_info(self) -> None:
        info = {"algo": self.agent.algo, "env_id": self.env_id, "env_kwargs": self.env_kwargs, "seed": self.seed,
                "total_steps": self.total_steps, "eval_freq": self.eval_freq, "eval_episodes": self.eval_episodes,
                "checkpoint_freq": self.checkpoint_freq, "blas_threads": self.settings.blas_threads,
                "lanes": self.lanes, "tensorboard": self.settings.tensorboard,
                "config": config_to_dict(self.agent.config), **self.run_info}
        self.folder.write_info(info)

    def _open_sinks(self) -> None:
        """metrics.csv, and TensorBoard when asked, once per trainer (a resumed run appends a new
        event file that takes over from the step after its checkpoint)."""
        if self.sinks is not None or self.folder is None:
            return
        self.sinks = [CsvLog(self.folder, self.columns, self.log)]
        if self.settings.tensorboard:
            start = self.step + 1 if self._resumed else None
            self.sinks.append(TensorBoardLog(self.folder.path / "tensorboard", tuple(self.agent.metric_names), start))

    def _write_metrics(self, row: dict[str, Any]) -> None:
        for sink in self.sinks or ():
            sink.write(row)

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
                "trainer": {"step": self.step, "episode": self.episode, **self.collector.state(),
                            "best_eval": self.best_eval if math.isfinite(self.best_eval) else None,
                            "rng": self.rng.bit_generator.state, "wall_time": self.wall_time,
                            "recent_returns": list(self.recent_returns), "last_metrics": self.last_metrics}}
        rlnn.save_arrays(ckpt / "resume.npz", arrays, meta)

    @classmethod
    def resume(cls, run_dir: str | Path, progress: bool = True, log: Callable[[str], None] | None = None,
               on_eval: Callable[[Trainer, EvalResult], None] | None = None,
               total_steps: int | None = None, *, env: EnvLike | None = None, eval_env: EvalEnv = None,
               callbacks: Iterable[Callback] = ()) -> Trainer:
        """Rebuild a trainer from ``run_dir/checkpoints/resume.npz`` to continue where it stopped
        (to ``total_steps``, when given: a run extended to more steps). ``env`` (and ``eval_env``)
        as the run had them: needed for a run without an env id, else made from the id. A folder
        that cannot be resumed is a one-line :class:`~agents.run_folder.RunFolderError`. The
        trainer is the kind the run's algorithm trains with (:func:`agents.trainer_class`), whichever
        class this is called on: ``OffPolicyTrainer.resume`` of a PPO run gives an ``OnPolicyTrainer``."""
        from . import trainer_class
        from .resume import read_resumable_run
        try:
            algo = RunFolder(run_dir).read_info().get("algo")
        except RunFolderError:
            algo = None          # read_resumable_run says what is wrong with the folder
        kind = trainer_class(algo) if isinstance(algo, str) else cls
        kind = cls if issubclass(cls, kind) else kind     # a subclass of the right kind stays itself
        return read_resumable_run(kind, run_dir, progress, log, on_eval, total_steps, env=env, eval_env=eval_env,
                                  callbacks=callbacks)

    def _restore(self, t: dict[str, Any]) -> None:
        """The loop's counters from a resume checkpoint, and the episodes in progress re-entered
        (:meth:`SingleEnv.restore`, :meth:`VectorEnvs.restore`)."""
        if int(t.get("n_envs", 1)) != self.n_envs:
            raise RunFolderError(f"the run was saved with {t.get('n_envs', 1)} env(s) but this trainer steps "
                                 f"{self.n_envs}; resume it on the envs it had")
        self._resumed = self._started = True
        self.step, self.episode = int(t["step"]), int(t["episode"])
        self.best_eval = t["best_eval"] if t["best_eval"] is not None else -math.inf
        self.rng.bit_generator.state = t["rng"]
        self.wall_time = float(t["wall_time"])
        self.recent_returns.extend(t["recent_returns"])
        self.last_metrics = dict(t["last_metrics"])
        self.collector.restore(t)
