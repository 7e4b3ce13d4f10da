"""Data parallelism as a collaborator of the update, the way a DistributedDataParallel wrapper
is a collaborator of a model: each agent writes its update once, and is handed one of these.

The update (``agent.train_round(batches, reducer)``) computes losses and gradients on the rows
it is given, each weighted by ``reducer.share`` (its rows' share of the whole batch, so the
processes' gradients add up to the batch's), and steps its optimisers through
``reducer.step``. Its metrics are batch means, weighted the same way, so they add up too.

* :class:`Serial` (``share = 1``): ``step`` clips and steps the optimisers and moves the target
  networks, as a single-process loop does.
* :class:`RowSplit`: each batch's rows are cut into ``processes`` parts; this process and
  forked workers (:mod:`agents.forked`) each run the same ``train_round`` on one part. Networks,
  optimiser states and one gradient buffer per process live in shared memory. ``step``: a
  barrier (every gradient is in), each process sums its slice of the parameter vector over the
  processes' gradients and Adam-steps that slice (the learning rate and, for clipping, the
  global norm shared through memory), moves the same slice of the target networks, and a
  barrier (the parameters have moved).

The random draws of an update (SAC's ε, TD3's smoothing noise) are attached to the batches by
``agent.prepare`` in the parent, in the serial order, so the processes see the draws a serial
run makes. Only float rounding in the gradient sums tells the results apart.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from rlnn.module import Module, move_parameters
from rlnn.optim import Optimizer, clip_grad_norm, clip_scale, part_slice, polyak_arrays, polyak_update

from .forked import ProcessGroup, fork_available, shared_array
from .replay import Batch

Target = tuple[Module, Module, float]        # (target network, its source, τ)


class Reducer(Protocol):
    """What an update is given: its rows' share of the batch and a way to step."""
    share: float

    def step(self, optimizers: Sequence[Optimizer], max_grad_norm: float = 0.0,
             targets: Sequence[Target] = ()) -> None: ...


class Serial:
    """One process: the update's rows are the whole batch."""

    share = 1.0
    processes = 1

    def step(self, optimizers: Sequence[Optimizer], max_grad_norm: float = 0.0,
             targets: Sequence[Target] = ()) -> None:
        """Clip the gradients of all ``optimizers`` together by their global norm (when
        ``max_grad_norm > 0``), step each, then ``θ' ← (1 − τ) θ' + τ θ`` for each target."""
        if max_grad_norm > 0:
            clip_grad_norm([p for opt in optimizers for p in opt.params], max_grad_norm)
        for opt in optimizers:
            opt.step()
        for target, source, tau in targets:
            polyak_update(target.parameters(), source.parameters(), tau)

    def run_round(self, agent: Any, batches: list[Batch]) -> list[dict[str, float]]:
        return agent.train_round(agent.prepare(batches), self)

    def close(self) -> None:
        """Nothing to stop."""


SERIAL = Serial()


class _SharedNet:
    """A network whose parameters (and its optimiser's state) live in shared memory, with one
    gradient buffer per process; the optimiser reads ``grads[0]``, which receives the sum."""

    def __init__(self, module: Module, optimizer: Optimizer | None, processes: int) -> None:
        params = module.parameters()
        n, dtype = sum(p.size for p in params), params[0].dtype
        self.module = module
        self.value = shared_array(n, dtype)
        self.grads = [shared_array(n, dtype) for _ in range(processes)]
        move_parameters(module, self.value, self.grads[0])
        if optimizer is not None:
            optimizer.rebind(allocate=shared_array)

    def part(self, rank: int, processes: int) -> slice:
        return part_slice(len(self.value), rank, processes)

    def use_grads_of(self, rank: int) -> None:
        """Point the module's gradients at ``rank``'s buffer (in that process)."""
        move_parameters(self.module, self.value, self.grads[rank])

    def sum_grads(self, part: slice) -> np.ndarray:
        """``grads[0] += grads[k]`` over ``part`` for every other process; returns that part of the sum."""
        summed = self.grads[0][part]
        for grad in self.grads[1:]:
            summed += grad[part]
        return summed


class RowSplit:
    """Each batch's rows split over this process and ``processes − 1`` forked workers (Linux).

    Made on the first round: the agent's networks (``agent.parallel_modules()``) move into
    shared memory, an input area for each worker's rows and an output area for its metrics are
    allocated for rounds of up to ``gradient_steps`` batches of ``batch_size`` rows, and the
    workers are forked. :meth:`close` stops them (the networks stay where they are)."""

    def __init__(self, processes: int = 2) -> None:
        if not fork_available():
            raise RuntimeError("splitting rows over processes needs os.fork (Linux); use lanes=1")
        if processes < 2:
            raise ValueError(f"a row split needs at least 2 processes, got {processes}")
        self.processes, self.rank, self.share = processes, 0, 1.0
        self._group: ProcessGroup | None = None

    # -- in every process ------------------------------------------------------------------
    def step(self, optimizers: Sequence[Optimizer], max_grad_norm: float = 0.0,
             targets: Sequence[Target] = ()) -> None:
        """As :meth:`Serial.step`, each process doing its slice of every parameter vector."""
        group, rank, size = self._group, self.rank, self.processes
        if rank == 0:
            for opt in optimizers:
                self._rates[self._index[id(opt)]] = opt.current_lr()   # a schedule moves only here
        group.barrier()                                   # every process's gradients are in
        summed = [self._nets[id(opt)].sum_grads(self._nets[id(opt)].part(rank, size)) for opt in optimizers]
        scale = 1.0
        if max_grad_norm > 0:
            self._squares[rank] = sum(float(np.vdot(g, g)) for g in summed)
            group.barrier()                               # every slice's squared norm is in
            norm = math.sqrt(float(self._squares.sum()))
            scale = clip_scale(norm, max_grad_norm)
        for opt in optimizers:
            opt.advance()                                 # the step count, kept in every process
            opt.update_part(rank, size, float(self._rates[self._index[id(opt)]]), scale)
        for target, source, tau in targets:
            target_net, source_net = self._nets[id(target)], self._nets[id(source)]
            part = target_net.part(rank, size)            # the slice this process just stepped
            polyak_arrays(target_net.value[part], source_net.value[part], tau)
        group.barrier()                                   # the parameters have moved

    # -- the parent ------------------------------------------------------------------------
    def run_round(self, agent: Any, batches: list[Batch]) -> list[dict[str, float]]:
        """``agent.train_round`` on every part of ``batches`` at once; the metrics summed."""
        batches = agent.prepare(batches)
        if self._group is None:
            self._start(agent, batches[0])
        rows = len(batches[0].rewards)
        if len(batches) > self._steps or any(len(b.rewards) != self._rows for b in batches):
            raise ValueError(f"a row split was set up for rounds of up to {self._steps} batches of {self._rows} "
                             f"rows, got {len(batches)} of {rows}")
        cuts = self._cuts
        for k, area in enumerate(self._inputs, start=1):
            for i, batch in enumerate(batches):
                for name, arr in area.items():
                    arr[i] = getattr(batch, name)[cuts[k]:cuts[k + 1]]
        own_rows = slice(0, cuts[1])
        self.share = cuts[1] / rows
        mine = self._group.run(len(batches), lambda: agent.train_round([b.rows(own_rows) for b in batches], self))
        for i, metrics in enumerate(mine):
            for k, key in enumerate(metrics):
                metrics[key] += float(self._outputs[:, i, k].sum())
        return mine

    def _start(self, agent: Any, batch: Batch) -> None:
        c, size = agent.config, self.processes
        self._nets: dict[int, _SharedNet] = {}
        self._index: dict[int, int] = {}
        for module, optimizer in agent.parallel_modules():
            net = _SharedNet(module, optimizer, size)
            self._nets[id(module)] = net
            if optimizer is not None:
                self._nets[id(optimizer)] = net
                self._index[id(optimizer)] = len(self._index)
        self._rates = shared_array(max(len(self._index), 1), np.float64)
        self._squares = shared_array(size, np.float64)
        self._steps, self._rows = int(c.gradient_steps), int(c.batch_size)
        self._cuts = [self._rows * k // size for k in range(size + 1)]
        fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(batch) if getattr(batch, f.name) is not None}
        self._inputs = [{name: shared_array((self._steps, self._cuts[k + 1] - self._cuts[k], *arr.shape[1:]), arr.dtype)
                         for name, arr in fields.items()} for k in range(1, size)]
        self._outputs = shared_array((size - 1, self._steps, 16), np.float64)
        self._group = ProcessGroup(size, lambda group, n: self._serve(agent, group, n))

    def _serve(self, agent: Any, group: ProcessGroup, n: int) -> None:  # pragma: no cover (a worker)
        rank = group.rank
        if self.rank != rank:             # this worker's first job: its gradients into its own buffers
            self.rank, self._group = rank, group
            for net in {id(net): net for net in self._nets.values()}.values():
                net.use_grads_of(rank)
        area = self._inputs[rank - 1]
        self.share = (self._cuts[rank + 1] - self._cuts[rank]) / self._rows
        parts = [Batch(**{name: arr[i] for name, arr in area.items()}) for i in range(n)]
        for i, metrics in enumerate(agent.train_round(parts, self)):
            self._outputs[rank - 1, i, :len(metrics)] = list(metrics.values())

    def close(self) -> None:
        """Stop the workers (the next round forks new ones)."""
        if self._group is not None:
            self._group.close()
            self._group = None


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:   # not Linux
        return os.cpu_count() or 1


# The smallest update worth splitting, in multiply-adds per row-split process: below it the
# barriers (a few µs each) and the halved matmuls' worse efficiency cost more than they save.
SPLIT_MIN_MACS = 2 ** 20


def update_macs(agent: Any) -> int:
    """Multiply-adds of one update's forward passes over its networks (a size measure)."""
    total = 0
    for module, optimizer in agent.parallel_modules():
        if optimizer is not None:
            total += sum(p.size for p in module.parameters())
    return total * int(agent.config.batch_size)


def choose_lanes(agent: Any, cores: int | None = None) -> int:
    """Processes to split each batch's rows over, from the update's size and the machine's
    cores alone, never from the momentary load (so a seed still fixes a run): 2 where there are
    two cores and the update is large enough (SAC/TD3's 256-wide networks, DQN with batch 64 on
    256-wide layers), else 1."""
    cores = available_cores() if cores is None else cores
    if cores < 2 or not fork_available() or int(agent.config.batch_size) < 16:
        return 1
    return 2 if update_macs(agent) >= SPLIT_MIN_MACS else 1


def make_reducer(lanes: int) -> Serial | RowSplit:
    return SERIAL if lanes == 1 else RowSplit(lanes)


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
