"""Where the training loop's transitions come from: the env it is given (a registered id, a
``gymnasium.Env``, a factory, or a ``gymnasium.vector.VectorEnv``), stepped one env at a time
(:class:`SingleEnv`, the path of ``n_envs = 1``) or ``n`` at a time (:class:`VectorEnvs`).

Both store every transition, ``agent.encode(obs)`` rows, and start every episode of every env with
a reset seed drawn from the loop's RNG. A vector env is never left to reset a sub-env itself:
right after the vector step in which some sub-envs finished, exactly those are reset
(``reset(seed=..., options={"reset_mask": done})``), whatever the env's autoreset mode::

    NEXT_STEP (gymnasium's default)  the step returned the final obs; the reset clears the pending
                                     autoreset, so no step is spent on it and none is stored
    SAME_STEP                        the final obs comes from info["final_obs"]; the env's own
                                     unseeded reset is replaced by a seeded one
    DISABLED (the envs built here)   the final obs as returned

So each vector step yields exactly ``n`` transitions, stored together in sub-env order: sub-env
``i``'s transition of the ``t``-th vector step is row ``t n + i`` of the replay ring. That layout
is what resuming uses (:meth:`VectorEnvs.restore`): each episode in progress is re-entered from its
reset seed and its actions, the last rows of the replay memory.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from .evaluation import EVAL_SEED_OFFSET
from .replay import ReplayBuffer

EnvLike = str | gym.Env | VectorEnv | Callable[[], gym.Env]
Finished = tuple[int, float, int]       # (sub-env index, episode return, episode length)
NOTHING: tuple[Finished, ...] = ()


def _spec_of(env: gym.Env | VectorEnv) -> Any:
    """The ``EnvSpec`` of one env (for a vector env, of its first sub-env), or None."""
    try:
        return env.get_attr("spec")[0] if isinstance(env, VectorEnv) else env.spec
    except Exception:  # noqa: BLE001  (a wrapper whose spec cannot be computed: treated as having none)
        return None


def _checked_factory(factory: Callable[[], Any]) -> Callable[[], gym.Env]:
    def make() -> gym.Env:
        env = factory()
        if not isinstance(env, gym.Env):
            raise ValueError(f"the env factory {getattr(factory, '__name__', factory)!r} returned "
                             f"{type(env).__name__}, not a gymnasium.Env")
        return env
    return make


def make_vector_env(make: Callable[[], gym.Env], n_envs: int, mode: str, processes: int = 1) -> VectorEnv:
    """``n_envs`` copies of ``make()`` in one process ("sync"), shared out between ``processes``
    processes ("sync" with ``processes > 1``: :class:`~agents.split_env.SplitVectorEnv`, the same
    envs and results), or one process each ("async"); autoreset disabled (the collector resets
    finished sub-envs itself, with seeds)."""
    try:
        from gymnasium.vector import AutoresetMode
    except ImportError:  # gymnasium 1.0: no autoreset modes, no reset_mask
        raise ValueError("n_envs > 1 needs gymnasium >= 1.1 (pip install -U gymnasium)") from None
    if mode == "async":
        if processes > 1:
            raise ValueError("vec_env='async' already steps each sub-env in a process of its own; use lanes=1 with it")
        return gym.vector.AsyncVectorEnv([_ignoring_ctrl_c(make)] * n_envs, autoreset_mode=AutoresetMode.DISABLED)
    if processes > 1:
        from .split_env import SplitVectorEnv
        return SplitVectorEnv(make, n_envs, processes)
    return gym.vector.SyncVectorEnv([make] * n_envs, autoreset_mode=AutoresetMode.DISABLED)


def _ignoring_ctrl_c(make: Callable[[], gym.Env]) -> Callable[[], gym.Env]:
    """``make`` for a worker process, which first ignores SIGINT: Ctrl-C reaches the whole process
    group, and the main process stops the run cleanly (a resume point) and then ends the workers."""
    def make_in_worker() -> gym.Env:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return make()
    return make_in_worker


def make_replay(agent: Any, seed: int, n_envs: int = 1) -> ReplayBuffer:
    """The replay memory of ``agent``'s spaces for ``n_envs`` envs, its sampler seeded by ``seed``."""
    space = agent.action_space
    if isinstance(space, gym.spaces.Discrete):
        shape, dtype = (), np.int64
    else:
        shape, dtype = space.shape, np.float32
    return ReplayBuffer(agent.config.buffer_size, agent.obs_dim, shape, dtype, rng=np.random.default_rng([seed, 1]),
                        n_envs=n_envs)


class EnvSource:
    """The env as given, resolved: ``env`` (what collection steps), ``env_id`` (its registered
    id, or None), ``n_envs``, and :meth:`eval_env` (one env for evaluation, made once). The ``n_envs``
    envs of an id or a factory are made by :func:`make_vector_env` (``vec_env``, ``processes``).

    The evaluation env is ``eval_env`` when given (an env, or a factory called once); else made
    like the training env (from the id or the factory, at the first evaluation); else
    ``gym.make(env.spec)`` when the env has a spec (made at once, so that a spec gymnasium cannot
    rebuild is an error before training); else there is none. Bad input: a one-line ``ValueError``."""

    def __init__(self, env: EnvLike, env_kwargs: dict[str, Any], n_envs: int, vec_env: str,
                 eval_env: gym.Env | Callable[[], gym.Env] | None = None, processes: int = 1) -> None:
        self.built = False        # made here, so closed here
        self._eval_env: gym.Env | None = None
        make: Callable[[], gym.Env] | None = None
        if env_kwargs and not isinstance(env, str):
            raise ValueError("env_kwargs apply to an env id only; pass them to your env or factory instead")
        if isinstance(env, VectorEnv):
            if n_envs not in (1, env.num_envs):
                raise ValueError(f"config n_envs={n_envs} but the vector env given has {env.num_envs} envs; "
                                 f"leave n_envs at 1 or make them agree")
            self.env, n_envs = env, env.num_envs
        elif isinstance(env, gym.Env):
            if n_envs > 1:
                raise ValueError(f"n_envs={n_envs} needs an env id or a factory (a function returning a new env), "
                                 f"not one env instance")
            self.env = env
        elif isinstance(env, str):
            env_id, kwargs = env, dict(env_kwargs)
            make = lambda: gym.make(env_id, **kwargs)  # noqa: E731
        elif callable(env):
            make = _checked_factory(env)
        else:
            raise ValueError(f"env must be an env id, a gymnasium.Env, a factory returning one or a "
                             f"gymnasium.vector.VectorEnv, got {type(env).__name__}")
        if make is not None:
            self.env = make() if n_envs == 1 else make_vector_env(make, n_envs, vec_env, processes)
            self.built = True
        self.n_envs = n_envs
        spec = _spec_of(self.env)
        self.env_id: str | None = env if isinstance(env, str) else getattr(spec, "id", None)
        if eval_env is not None and eval_env is env:
            raise ValueError("eval_env must be another env than the one trained on (evaluating resets it)")
        if isinstance(eval_env, VectorEnv):
            raise ValueError("eval_env must be one env (or a factory returning one), not a vector env")
        if isinstance(eval_env, gym.Env):
            self._eval_env, self._make_eval = eval_env, None
        elif eval_env is not None:
            self._make_eval = _checked_factory(eval_env)
        elif make is not None:
            self._make_eval = make
        elif spec is not None:
            self._make_eval = lambda: gym.make(spec)
        else:
            self._make_eval = None
        self._eval_built = False
        self._eval_from_spec = eval_env is None and make is None and spec is not None

    @property
    def name(self) -> str:
        """The env id, or the env's class name (for messages)."""
        if self.env_id is not None:
            return self.env_id
        return type(self.env.unwrapped).__name__ if isinstance(self.env, gym.Env) else type(self.env).__name__

    @property
    def can_evaluate(self) -> bool:
        return self._eval_env is not None or self._make_eval is not None

    def eval_env(self) -> gym.Env:
        if self._eval_env is None:
            if self._make_eval is None:
                raise ValueError(f"no evaluation env for {self.name} (it has no spec to rebuild it from); "
                                 f"pass eval_env=")
            try:
                self._eval_env = self._make_eval()
            except Exception as exc:
                if not self._eval_from_spec:
                    raise
                # e.g. a wrapper of the user's that gymnasium cannot recreate from the spec
                raise ValueError(f"cannot rebuild an evaluation env from the spec of {self.name} "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                                 f"pass eval_env=") from None
            self._eval_built = True
        return self._eval_env

    def check(self, agent: Any, eval_freq: int) -> None:
        """The agent acts only in an env with the spaces it was built for (a Box's bounds may
        differ); evaluating (``eval_freq > 0``) needs an evaluation env."""
        if eval_freq and not self.can_evaluate:
            raise ValueError(f"eval_freq={eval_freq} but {self.name} has no spec to make an evaluation env from; "
                             f"pass eval_env= (an env or a factory), or set eval_freq=0")
        vector = isinstance(self.env, VectorEnv)
        obs = self.env.single_observation_space if vector else self.env.observation_space
        act = self.env.single_action_space if vector else self.env.action_space
        want_obs, want_act = getattr(agent, "observation_space", obs), getattr(agent, "action_space", act)
        same_obs = obs == want_obs or (isinstance(obs, gym.spaces.Box) and isinstance(want_obs, gym.spaces.Box)
                                       and obs.shape == want_obs.shape)
        if not same_obs or act != want_act:
            raise ValueError(f"{self.name} has observations {obs} and actions {act}, but the agent was built for "
                             f"{want_obs} and {want_act}; build the agent from this env's spaces")
        if eval_freq and self._eval_from_spec:
            self.eval_env()

    def close(self) -> None:
        """Close the envs made here (not those the caller passed in)."""
        if self.built:
            self.env.close()
        if self._eval_built and self._eval_env is not None:
            self._eval_env.close()


class SingleEnv:
    """One env: act, step, store one transition; reset with a seed from ``rng`` when it ends."""
    n_envs = 1

    def __init__(self, env: gym.Env, agent: Any, replay: ReplayBuffer, rng: np.random.Generator) -> None:
        self.env, self.agent, self.replay, self.rng = env, agent, replay, rng
        self.obs: Any = None
        self.row: np.ndarray | None = None
        self.episode_seed, self.episode_return, self.episode_length = 0, 0.0, 0

    def start(self) -> None:
        self.episode_seed = int(self.rng.integers(0, EVAL_SEED_OFFSET))
        self.obs, _ = self.env.reset(seed=self.episode_seed)
        self.row = self.agent.encode(self.obs)
        self.episode_return, self.episode_length = 0.0, 0

    def collect(self, step: int) -> tuple[Finished, ...]:
        """One env step at loop step ``step``; the episode it finished, if any."""
        action = self.agent.explore(self.obs, step)
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        next_row = self.agent.encode(next_obs)
        self.replay.add(self.row, action, reward, next_row, terminated, truncated)
        self.obs, self.row = next_obs, next_row
        self.episode_return += float(reward)
        self.episode_length += 1
        if terminated or truncated:
            finished = ((0, self.episode_return, self.episode_length),)
            self.start()
            return finished
        return NOTHING

    def state(self) -> dict[str, Any]:
        return {"episode_seed": self.episode_seed, "episode_return": self.episode_return,
                "episode_length": self.episode_length}

    def restore(self, state: dict[str, Any]) -> None:
        """Re-enter the episode in progress: reset with its seed, replay its actions (the last
        ones in the replay memory)."""
        self.episode_seed = int(state["episode_seed"])
        self.obs, _ = self.env.reset(seed=self.episode_seed)
        for action in self.replay.last_actions(int(state["episode_length"])):
            self.obs, *_ = self.env.step(action if action.ndim else action.item())
        self.row = self.agent.encode(self.obs)
        self.episode_return, self.episode_length = float(state["episode_return"]), int(state["episode_length"])


class VectorEnvs:
    """``n`` envs stepped together: one batched ``explore``, one ``step``, ``n`` stored transitions;
    finished sub-envs reset with seeds from ``rng`` (in sub-env order)."""

    def __init__(self, envs: VectorEnv, agent: Any, replay: ReplayBuffer, rng: np.random.Generator) -> None:
        try:
            from gymnasium.vector import AutoresetMode
        except ImportError:
            raise ValueError("n_envs > 1 needs gymnasium >= 1.1 (pip install -U gymnasium)") from None
        self.envs, self.agent, self.replay, self.rng = envs, agent, replay, rng
        self.n_envs = n = envs.num_envs
        mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self.final_obs_in_info = mode in (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP.value)
        base = envs.unwrapped
        if isinstance(base, gym.vector.AsyncVectorEnv) and not base.shared_memory and \
                mode in (AutoresetMode.NEXT_STEP, AutoresetMode.NEXT_STEP.value):
            # Its workers forget a reset of one sub-env and reset it again at the next step.
            raise ValueError("an AsyncVectorEnv with shared_memory=False and next-step autoreset cannot reset one "
                             "sub-env at a time; make it with shared_memory=True or "
                             "autoreset_mode=AutoresetMode.DISABLED")
        self.obs: Any = None
        self.rows: np.ndarray | None = None
        self.episode_seeds = np.zeros(n, dtype=np.int64)
        self.episode_returns = np.zeros(n, dtype=np.float64)
        self.episode_lengths = np.zeros(n, dtype=np.int64)

    def _reset(self, mask: np.ndarray) -> None:
        """Reset the sub-envs of ``mask`` with their episode seeds (the others keep their state)."""
        seeds = [int(s) if m else None for s, m in zip(self.episode_seeds, mask)]
        obs, _ = self.envs.reset(seed=seeds, options={"reset_mask": mask})
        self._observe(obs)

    def _observe(self, obs: Any) -> None:
        self.obs = obs
        self.rows = np.array(self.agent.encode(obs), dtype=np.float32)   # a copy: envs may reuse their buffer

    def _new_episodes(self, mask: np.ndarray) -> None:
        self.episode_seeds[mask] = self.rng.integers(0, EVAL_SEED_OFFSET, size=int(mask.sum()))
        self.episode_returns[mask] = 0.0
        self.episode_lengths[mask] = 0
        self._reset(mask)

    def start(self) -> None:
        self._new_episodes(np.ones(self.n_envs, dtype=bool))

    def collect(self, step: int) -> tuple[Finished, ...] | list[Finished]:
        """One vector step (``n`` transitions) at loop step ``step``; the episodes it finished."""
        actions = self.agent.explore(self.obs, step)
        obs, rewards, terminated, truncated, info = self.envs.step(actions)
        done = terminated | truncated
        previous = self.rows
        self._observe(obs)
        next_rows = self.rows
        if self.final_obs_in_info and done.any():      # obs holds the reset obs of finished sub-envs
            next_rows = next_rows.copy()
            next_rows[done] = self.agent.encode(np.stack(list(info["final_obs"][done])))
        self.replay.add_batch(previous, actions, rewards, next_rows, terminated, truncated)
        self.episode_returns += rewards
        self.episode_lengths += 1
        if not done.any():
            return NOTHING
        finished = [(int(i), float(self.episode_returns[i]), int(self.episode_lengths[i]))
                    for i in np.flatnonzero(done)]
        self._new_episodes(done)
        return finished

    def state(self) -> dict[str, Any]:
        return {"n_envs": self.n_envs, "episode_seeds": self.episode_seeds.tolist(),
                "episode_returns": self.episode_returns.tolist(), "episode_lengths": self.episode_lengths.tolist()}

    def restore(self, state: dict[str, Any]) -> None:
        """Re-enter every sub-env's episode in progress: reset it with its seed, then step it with
        its actions. Sub-env ``i`` is ``L_i`` steps in, the longest ``M``; a vector env steps all
        its sub-envs at once, so sub-env ``i`` is reset at vector step ``M − L_i`` of the replay and
        before that takes filler actions (its own earlier ones). The actions of the last ``M``
        vector steps are the last ``M n`` rows of the replay memory."""
        self.episode_seeds = np.array(state["episode_seeds"], dtype=np.int64).reshape(self.n_envs)
        self.episode_returns = np.array(state["episode_returns"], dtype=np.float64).reshape(self.n_envs)
        lengths = np.array(state["episode_lengths"], dtype=np.int64).reshape(self.n_envs)
        longest = int(lengths.max())
        actions = self.replay.last_actions(longest * self.n_envs).reshape(longest, self.n_envs,
                                                                          *self.replay.action_shape)
        starts = longest - lengths
        pending = np.ones(self.n_envs, dtype=bool)    # every sub-env is reset before its first step
        for k in range(longest + 1):
            mask = pending | (starts == k)
            if mask.any():
                self._reset(mask)
            if k == longest:
                break
            obs, _, terminated, truncated, _ = self.envs.step(actions[k])
            self._observe(obs)
            pending = (terminated | truncated) & (starts > k)   # a filler episode ended: reset it
        self.episode_lengths = lengths
