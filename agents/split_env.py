"""A vector env whose sub-envs are stepped by several processes at once: this one and forked
workers, each stepping its own contiguous share of the sub-envs (``vec_env`` "split").

Why: with cheap networks, an on-policy run spends most of its time inside the envs' ``step``
(PPO LunarLander-v3, 16 envs: 65 of ~125 s). ``SyncVectorEnv`` steps the 16 one after the
other on one core; gymnasium's ``AsyncVectorEnv`` gives each sub-env a process of its own and
pays a pipe round trip per sub-env per step, which on a 2-core machine costs more than it saves.
Here there is one worker per extra core, and this process steps a share too::

    actions → shared memory                      (this process)
    every process steps its sub-envs             (in parallel; ProcessGroup.run)
    observations, rewards, flags → shared memory (each process writes its own rows)

so a vector step costs about ``n / processes`` env steps plus one hand-off (two barriers of
:class:`agents.forked.ProcessGroup`, which sleep on a semaphore rather than spin when the other
side is late). The sub-envs are the same envs stepped with the same actions and reset seeds, so
a run's results do not depend on the mode.

The semantics are ``SyncVectorEnv``'s with ``autoreset_mode=DISABLED`` (what the trainer builds):
``reset(seed=..., options={"reset_mask": m})`` resets the sub-envs of ``m`` only, ``step`` never
resets. The infos of the workers' sub-envs come back pickled only when a sub-env returned a
non-empty info dict; an exception in a sub-env is raised here, as ``SyncVectorEnv`` would. The
workers build their own sub-envs after the fork (nothing of theirs is shared but the arrays).
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Callable, Sequence
from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import (batch_space, create_shared_memory, iterate, read_from_shared_memory,
                                    write_to_shared_memory)

from .forked import LaneBroken, ProcessGroup, shared_array

_MAKE, _STEP, _RESET, _CALL, _CLOSE = range(5)
MESSAGE_BYTES = 1 << 22            # per process: a pickled request or reply (infos, call results)


class SplitVectorEnv(VectorEnv):
    """``n_envs`` copies of ``make()`` split over ``processes`` processes (this one and
    ``processes − 1`` forked workers; Linux). Sub-env ``i`` lives in the process whose share of
    ``range(n_envs)`` holds ``i``; the first share is this process's."""

    def __init__(self, make: Callable[[], gym.Env], n_envs: int, processes: int = 2) -> None:
        super().__init__()
        if not 2 <= processes <= n_envs:
            raise ValueError(f"a split vector env needs 2 to n_envs={n_envs} processes, got {processes}")
        self.num_envs = n_envs
        self.shares = [share.tolist() for share in np.array_split(np.arange(n_envs), processes)]
        first = make()              # sub-env 0, this process's; its spaces define the vector env's
        self.single_observation_space, self.single_action_space = first.observation_space, first.action_space
        self.observation_space = batch_space(self.single_observation_space, n_envs)
        self.action_space = batch_space(self.single_action_space, n_envs)
        self.metadata = {**first.metadata, "autoreset_mode": AutoresetMode.DISABLED}
        self.render_mode = first.render_mode
        self.spec = None            # as SyncVectorEnv: ask get_attr("spec") for the sub-envs' spec
        context = multiprocessing.get_context("fork")
        self._obs_memory = create_shared_memory(self.single_observation_space, n_envs, ctx=context)
        self._action_memory = create_shared_memory(self.single_action_space, n_envs, ctx=context)
        self._observations = read_from_shared_memory(self.single_observation_space, self._obs_memory, n_envs)
        self._actions = read_from_shared_memory(self.single_action_space, self._action_memory, n_envs)
        self._rewards = shared_array(n_envs, np.float64)
        self._terminated = shared_array(n_envs, np.bool_)
        self._truncated = shared_array(n_envs, np.bool_)
        self._messages = [shared_array(MESSAGE_BYTES, np.uint8) for _ in range(processes)]
        self._make = make
        self.envs: list[gym.Env] = [first]       # this process's sub-envs (after the fork, each process's own)
        self._group = ProcessGroup(processes, self._work)
        self.envs += [make() for _ in self.shares[0][1:]]
        self._run(_MAKE, None)
        self.closed = False

    # -- the VectorEnv API -----------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-env, or those of ``options["reset_mask"]``; seeds as ``SyncVectorEnv``'s."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} sub-envs")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        elif not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (self.num_envs,)
                  and mask.any()):
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) with a True")
        self._terminated[mask] = False
        self._truncated[mask] = False
        infos = self._run(_RESET, (seeds, mask.tolist(), options))
        return deepcopy(self._observations), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One step of every sub-env with its row of ``actions``."""
        _copy_into(self._actions, actions)
        infos = self._run(_STEP, None)
        return (deepcopy(self._observations), self._rewards.copy(), self._terminated.copy(),
                self._truncated.copy(), infos)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``getattr(sub_env, name)`` of every sub-env, in sub-env order."""
        return tuple(self._run(_CALL, (name, None)))

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``sub_env.name(*args, **kwargs)`` (or the attribute, if not callable) of every sub-env."""
        return tuple(self._run(_CALL, (name, (args, kwargs))))

    def set_attr(self, name: str, values: Any) -> None:
        raise NotImplementedError("a split vector env does not set sub-env attributes; use vec_env='sync'")

    def close_extras(self, **kwargs: Any) -> None:
        """Close every sub-env and stop the workers (also after a failure)."""
        try:
            self._run(_CLOSE, None)
        except LaneBroken:              # the workers were stopped (Ctrl-C in a step): close this share
            for env in self.envs:
                env.close()
        self._group.close()

    # -- the work of every process ---------------------------------------------------------
    def _run(self, job: int, request: Any) -> Any:
        """Post ``job`` (its arguments in ``request``), do this process's share, wait for the
        workers', and merge their replies; the first exception of any sub-env is raised here."""
        if request is not None:
            self._write(0, request)
        own = self._group.run(job, lambda: self._do(0, job, request))
        replies = [own] + [self._read(rank) if self._has_reply(rank) else None for rank in range(1, len(self.shares))]
        for reply in replies:
            if reply is not None and reply[0] == "error":
                raise reply[1]
        if job in (_STEP, _RESET):
            infos: dict[str, Any] = {}
            for share, reply in zip(self.shares, replies):
                for i, info in zip(share, reply[1] if reply is not None and reply[1] is not None else ()):
                    if info:
                        infos = self._add_info(infos, info, i)
            return infos
        if job == _CALL:
            return [value for reply in replies for value in reply[1]]
        return None

    def _work(self, group: ProcessGroup, job: int) -> None:  # pragma: no cover (runs in a worker)
        """A worker's side of a job: its share, its reply written where the parent reads it."""
        rank = group.rank
        if job == _MAKE:
            self.envs = []
        request = self._read(0) if job in (_RESET, _CALL) else None
        reply = self._do(rank, job, request)
        self._write(rank, None if reply is None or reply[1] is None else reply)   # most steps: nothing to send

    def _do(self, rank: int, job: int, request: Any) -> tuple[str, Any] | None:
        """Process ``rank``'s share of ``job``: ``("ok", per-sub-env results or None)`` or ``("error", exc)``."""
        try:
            share = self.shares[rank]
            if job == _MAKE:
                if rank:
                    self.envs = [self._make() for _ in share]
                return None
            if job == _STEP:
                return "ok", self._step_share(share)
            if job == _RESET:
                seeds, mask, options = request
                return "ok", self._reset_share(share, seeds, mask, options)
            if job == _CALL:
                name, arguments = request
                values = []
                for env in self.envs:
                    value = getattr(env, name)
                    values.append(value(*arguments[0], **arguments[1]) if arguments is not None and callable(value)
                                  else value)
                return "ok", values
            for env in self.envs:                 # _CLOSE
                env.close()
            return None
        except Exception as exc:  # noqa: BLE001 (raised in the parent, as a sub-env's error)
            return "error", exc

    def _step_share(self, share: list[int]) -> list[dict[str, Any]] | None:
        infos, any_info = [], False
        for i, env, action in zip(share, self.envs, self._share_actions(share)):
            obs, reward, terminated, truncated, info = env.step(action)
            write_to_shared_memory(self.single_observation_space, i, obs, self._obs_memory)
            self._rewards[i], self._terminated[i], self._truncated[i] = reward, terminated, truncated
            infos.append(info)
            any_info = any_info or bool(info)
        return infos if any_info else None

    def _reset_share(self, share: list[int], seeds: list[int | None], mask: list[bool],
                     options: dict[str, Any]) -> list[dict[str, Any]]:
        infos = []
        for i, env in zip(share, self.envs):
            info: dict[str, Any] = {}
            if mask[i]:
                obs, info = env.reset(seed=seeds[i], options=options)
                write_to_shared_memory(self.single_observation_space, i, obs, self._obs_memory)
            infos.append(info)
        return infos

    def _share_actions(self, share: list[int]) -> list[Any]:
        every = iterate(self.action_space, self._actions)
        return [action for i, action in enumerate(every) if share[0] <= i <= share[-1]]

    # -- messages through shared memory ----------------------------------------------------
    def _write(self, rank: int, message: Any) -> None:
        buffer = self._messages[rank]
        if message is None:
            buffer[:8] = 0
            return
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 (e.g. an info value that cannot be pickled)
            data = pickle.dumps(("error", RuntimeError(f"a sub-env's reply cannot be sent between processes: {exc}")))
        if len(data) + 8 > len(buffer):
            data = pickle.dumps(("error", RuntimeError(f"a sub-env's reply of {len(data)} bytes does not fit the "
                                                       f"{len(buffer)} bytes between processes; use vec_env='sync'")))
        buffer[:8] = np.frombuffer(np.int64(len(data)).tobytes(), dtype=np.uint8)
        buffer[8:8 + len(data)] = np.frombuffer(data, dtype=np.uint8)

    def _has_reply(self, rank: int) -> bool:
        return bool(self._messages[rank][:8].view(np.int64)[0])

    def _read(self, rank: int) -> Any:
        buffer = self._messages[rank]
        size = int(buffer[:8].view(np.int64)[0])
        return pickle.loads(buffer[8:8 + size].tobytes())   # written by this run's own processes only


def _copy_into(destination: Any, source: Any) -> None:
    """Write a batch of actions into the shared arrays (nested for Dict and Tuple spaces)."""
    if isinstance(destination, dict):
        for key, part in destination.items():
            _copy_into(part, source[key])
    elif isinstance(destination, tuple):
        for part, value in zip(destination, source):
            _copy_into(part, value)
    else:
        np.copyto(destination, np.asarray(source).reshape(destination.shape), casting="same_kind")
