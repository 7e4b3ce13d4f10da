"""Benchmark one training step of an MLP: rlnn vs a bare numpy step vs PyTorch CPU.

    python -m experiments.benchmarks.bench_nn [--threads 1,2] [--budget 4] [--json PATH] [--sizes small,mid,wide]

A step is forward, mean squared-error loss, backward, Adam (ReLU hidden layers, identity
output, float32). For each configuration and each BLAS thread count (1 and 2, through
``threadpoolctl`` when installed) the three implementations run interleaved in one process,
so background load hits them alike; each figure is the median over ``repeats`` blocks of
the per-step time. The last table gives each implementation its best thread count per size.

``matmul_peak_gflops()`` measures the machine's float32 matmul throughput (one big matmul);
other benchmarks import it from here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import numpy as np

import rlnn
from agents.blas import blas_threads

CONFIGS: dict[str, tuple[int, list[int]]] = {
    "small": (64, [4, 64, 64, 2]),
    "mid": (256, [17, 256, 256, 6]),
    "wide": (256, [64, 256, 256, 8]),
}
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8


# -- the machine's peak ---------------------------------------------------------------------

def matmul_peak_gflops(n: int = 1024, repeats: int = 5, threads: int | None = None,
                       dtype: np.dtype = np.float32) -> float:
    """Best-of-``repeats`` GFLOP/s of an ``(n, n) @ (n, n)`` matmul (2 n^3 flops).

    ``threads`` limits BLAS threads (needs ``threadpoolctl``; ignored without it). The best,
    not the median, is reported: it is a ceiling that background load only lowers.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    with thread_limit(threads):
        np.matmul(a, b, out=out)  # warm up: page in, spin up threads
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """numpy's BLAS limited to ``threads`` threads (:func:`agents.blas.blas_threads`, the
    project's one BLAS-thread helper) and, if torch is loaded, torch's intra-op pool too."""
    torch = _torch() if threads is not None else None
    previous = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(threads)
    try:
        with blas_threads(threads):
            yield
    finally:
        if torch:
            torch.set_num_threads(previous)


def _torch_installed() -> str | None:
    """torch's version if it is installed, without importing it here."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("torch")
    except PackageNotFoundError:
        return None


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# -- the three implementations of one step -------------------------------------------------

class BareNumpyStep:
    """The same step written by hand in plain numpy, as a careful numpy programmer would.

    Weights are separate arrays per layer (W: (in, out), b: (out,)). Forward keeps each hidden
    activation; ReLU and bias are applied in place on the matmul result. Backward computes
    ``dW = h.T @ g`` straight into preallocated gradient arrays (``out=``), ``db = g.sum(0)``,
    and ``g = (g @ W.T) * (h > 0)`` down to the first layer (no gradient for the input).
    Adam is the textbook per-array update with in-place moment updates:
    ``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; W -= lr/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps)``.
    No tricks beyond ``out=`` and in-place operators; nothing is fused across arrays.
    """

    def __init__(self, sizes: list[int], rng: np.random.Generator, dtype=np.float32) -> None:
        self.W = [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(dtype) for a, b in pairwise(sizes)]
        self.b = [np.zeros(b, dtype=dtype) for b in sizes[1:]]
        self.params = self.W + self.b
        self.grads = [np.zeros_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        n_layers = len(self.W)
        hs = [x]
        h = x
        for i in range(n_layers):
            h = h @ self.W[i]
            h += self.b[i]
            if i < n_layers - 1:
                np.maximum(h, 0, out=h)
            hs.append(h)
        diff = h - target
        loss = float(np.vdot(diff, diff)) / diff.size
        g = diff
        g *= 2.0 / diff.size
        gW, gb = self.grads[:n_layers], self.grads[n_layers:]
        for i in range(n_layers - 1, -1, -1):
            np.matmul(hs[i].T, g, out=gW[i])
            np.sum(g, axis=0, out=gb[i])
            if i > 0:
                g = g @ self.W[i].T
                g *= hs[i] > 0
        self.t += 1
        b1, b2 = BETAS
        step = LR / (1.0 - b1 ** self.t)
        root_bias2 = math.sqrt(1.0 - b2 ** self.t)
        for p, grad, m, v in zip(self.params, self.grads, self.m, self.v):
            m *= b1
            m += (1.0 - b1) * grad
            v *= b2
            v += (1.0 - b2) * grad * grad
            p -= step * m / (np.sqrt(v) / root_bias2 + EPS)
        return loss


class RlnnStep:
    """The public-API step: ``net(x)``, ``SquaredError``, ``zero_grad``, ``backward``, ``Adam``."""

    def __init__(self, sizes: list[int], rng: np.random.Generator, dtype=np.float32) -> None:
        self.net = rlnn.MLP(sizes, activation="relu", rng_or_seed=rng, dtype=dtype)
        self.loss = rlnn.losses.SquaredError(reduction="mean")
        self.opt = rlnn.optim.Adam(self.net.parameters(), lr=LR, betas=BETAS, eps=EPS)

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        value, grad = self.loss(self.net(x), target)
        self.net.zero_grad()
        self.net.backward(grad, input_grad=False)
        self.opt.step()
        return value


class TorchStep:
    """The idiomatic PyTorch step: ``nn.Sequential``, ``MSELoss``, ``Adam(fused=True)`` (faster
    than the default foreach Adam on CPU), ``zero_grad(set_to_none=True)``; float32 tensors
    share the numpy batch's memory (``from_numpy``), so no copy is timed."""

    def __init__(self, sizes: list[int], rng: np.random.Generator, dtype=np.float32) -> None:
        torch = _torch()
        torch.manual_seed(int(rng.integers(2 ** 31)))
        layers = []
        for i, (a, b) in enumerate(pairwise(sizes)):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.torch = torch
        self.net = torch.nn.Sequential(*layers)
        self.loss = torch.nn.MSELoss()
        try:  # the fused CPU kernel is PyTorch's fastest Adam; give torch its best shot
            self.opt = torch.optim.Adam(self.net.parameters(), lr=LR, betas=BETAS, eps=EPS, fused=True)
        except (RuntimeError, TypeError):
            self.opt = torch.optim.Adam(self.net.parameters(), lr=LR, betas=BETAS, eps=EPS)
        self._inputs: tuple | None = None

    def __call__(self, x: np.ndarray, target: np.ndarray) -> float:
        if self._inputs is None or self._inputs[0] is not x:
            # from_numpy shares memory; convert once per batch object, as a data loader would.
            self._inputs = (x, self.torch.from_numpy(x), self.torch.from_numpy(target))
        _, xt, tt = self._inputs
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.net(xt), tt)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


# -- measurement ----------------------------------------------------------------------------

def time_steps(steps: dict[str, Callable[[np.ndarray, np.ndarray], float]], x: np.ndarray, t: np.ndarray,
               repeats: int, block_seconds: float = 0.001, budget_seconds: float = 4.0
               ) -> dict[str, list[float]]:
    """Microseconds per step of each callable, one sample per timed block.

    The callables take turns, one short block (about ``block_seconds``: one step at the big
    sizes, a few at the small one) each, ``repeats`` times or until ``budget_seconds`` have
    passed (at least 5 rounds). Round-robin blocks spread background load evenly over the
    implementations, and the median of many short blocks ignores the ones that were preempted.
    Samples of the same round are paired: they ran under the same background load.
    """
    per_block = {}
    for name, step in steps.items():  # warm up and size each block
        for _ in range(5):
            step(x, t)
        start = time.perf_counter()
        step(x, t)
        per_block[name] = max(1, int(block_seconds / max(time.perf_counter() - start, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in steps}
    deadline = time.perf_counter() + budget_seconds
    for rnd in range(repeats):
        for name, step in steps.items():
            k = per_block[name]
            start = time.perf_counter()
            for _ in range(k):
                step(x, t)
            samples[name].append((time.perf_counter() - start) / k * 1e6)
        if rnd >= 4 and time.perf_counter() > deadline:
            break
    return samples


def run(configs: dict[str, tuple[int, list[int]]], repeats: int, threads: list[int],
        budget_seconds: float = 4.0, impls: tuple[str, ...] = ("rlnn", "numpy")) -> list[dict]:
    """One row per (configuration, thread count): median µs per step of each implementation."""
    rows = []
    for name, (batch, sizes) in configs.items():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
        t = rng.standard_normal((batch, sizes[-1])).astype(np.float32)
        makers = {"rlnn": RlnnStep, "numpy": BareNumpyStep, "torch": TorchStep}
        steps = {impl: makers[impl](sizes, np.random.default_rng(1)) for impl in impls}
        for k in threads:
            with thread_limit(k):
                samples = time_steps(steps, x, t, repeats, budget_seconds=budget_seconds)
            rows.append({"config": name, "batch": batch, "sizes": sizes, "threads": k, "rounds": len(next(iter(samples.values()))),
                         "us": {impl: statistics.median(v) for impl, v in samples.items()},
                         "ratio": {impl: paired_ratio(samples["rlnn"], v) for impl, v in samples.items()
                                   if impl != "rlnn" and "rlnn" in samples}})
    return rows


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of ``a / b``. On a shared machine the load drifts over seconds; the
    ratio within one round (same load for both) is far steadier than a ratio of medians."""
    return statistics.median(x / y for x, y in zip(a, b))


def merge_rounds(rounds: list[list[dict]], torch_rounds: list[dict[tuple[str, int], float]] | None = None
                 ) -> list[dict]:
    """One row per (configuration, thread count) from several rounds of :func:`run` (and, if
    given, the torch child's µs per cell in the same rounds, each timed right after this
    process's round): µs are medians over the rounds; ``ratio`` entries are medians of the
    per-round ratios, so rlnn / torch is paired in time as closely as two processes allow."""
    merged = []
    for i, first in enumerate(rounds[0]):
        cells = [r[i] for r in rounds]
        row = {**first, "rounds": sum(c["rounds"] for c in cells),
               "us": {impl: statistics.median(c["us"][impl] for c in cells) for impl in first["us"]},
               "ratio": {impl: statistics.median(c["ratio"][impl] for c in cells) for impl in first["ratio"]}}
        if torch_rounds:
            key = (first["config"], first["threads"])
            row["us"]["torch"] = statistics.median(t[key] for t in torch_rounds)
            row["ratio"]["torch"] = statistics.median(c["us"]["rlnn"] / t[key] for c, t in zip(cells, torch_rounds))
        merged.append(row)
    return merged


def best_rows(rows: list[dict]) -> list[dict]:
    """Per configuration, each implementation at its fastest thread count."""
    out = []
    for name in dict.fromkeys(r["config"] for r in rows):
        group = [r for r in rows if r["config"] == name]
        best = {}
        for impl in group[0]["us"]:
            r = min(group, key=lambda r: r["us"][impl])
            best[impl] = (r["us"][impl], r["threads"])
        out.append({"config": name, "batch": group[0]["batch"], "sizes": group[0]["sizes"], "best": best})
    return out


def markdown(rows: list[dict], best: list[dict]) -> str:
    has_torch = "torch" in rows[0]["us"]
    head = "| batch, sizes | threads | rlnn µs | numpy µs | rlnn / numpy |" + (" torch µs | rlnn / torch |" if has_torch else "")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        us = r["us"]
        line = (f"| {r['batch']}, {'-'.join(map(str, r['sizes']))} | {r['threads']} | {us['rlnn']:.0f} | "
                f"{us['numpy']:.0f} | {r['ratio']['numpy']:.2f} |")
        if has_torch:
            line += f" {us['torch']:.0f} | {r['ratio']['torch']:.2f} |"
        lines.append(line)
    lines += ["", ("rlnn / numpy: median over rounds of the per-round ratio (paired under the same load); "
                   "rlnn / torch: median over rounds of the per-round ratio (torch runs in its own process, "
                   "each round right after this one's)."),
              "", "Best thread count per implementation (ratios of medians):", ""]
    head = "| batch, sizes | rlnn µs (threads) | numpy µs (threads) | rlnn / numpy |" + (
        " torch µs (threads) | rlnn / torch |" if has_torch else "")
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for b in best:
        (ru, rt), (nu, nt) = b["best"]["rlnn"], b["best"]["numpy"]
        line = f"| {b['batch']}, {'-'.join(map(str, b['sizes']))} | {ru:.0f} ({rt}) | {nu:.0f} ({nt}) | {ru / nu:.2f} |"
        if has_torch:
            tu, tt = b["best"]["torch"]
            line += f" {tu:.0f} ({tt}) | {ru / tu:.2f} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300, help="max timed blocks per implementation (median taken)")
    parser.add_argument("--budget", type=float, default=4.0, help="seconds per configuration and thread count")
    parser.add_argument("--threads", default="1,2", help="BLAS thread counts to try, comma-separated")
    parser.add_argument("--sizes", default=",".join(CONFIGS), help=f"subset of {list(CONFIGS)}")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternations of this process and the torch one (the budget is shared out)")
    parser.add_argument("--torch-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.torch_only:  # the child process that times PyTorch alone (see below)
        rows = run({k: CONFIGS[k] for k in args.sizes.split(",")}, args.repeats,
                   [int(k) for k in args.threads.split(",")], args.budget, impls=("torch",))
        print(json.dumps(rows))
        return
    # PyTorch is timed in a child process: in this one, its OpenMP threads keep spinning after
    # each step and steal the second core from OpenBLAS, which made rlnn and numpy look 2.6x
    # slower with 2 threads (measured here). Blocking the import keeps this process clean.
    has_torch = _torch_installed()
    sys.modules["torch"] = None
    configs = {k: CONFIGS[k] for k in args.sizes.split(",")}
    threads = [int(k) for k in args.threads.split(",")]
    print(f"numpy {np.__version__}, rlnn {rlnn.__version__}, torch {has_torch or 'not installed'} "
          f"(timed in a separate process), {os.cpu_count()} CPUs")
    peak = {k: matmul_peak_gflops(threads=k) for k in threads}
    print("float32 matmul peak (1024^3): " + ", ".join(f"{v:.1f} GFLOP/s with {k} thread(s)" for k, v in peak.items()))
    # The two processes take turns, round by round, so a slow phase of the machine lands on both.
    from experiments.benchmarks.processes import last_line, run_python

    rounds, torch_rounds = [], []
    n_rounds = max(args.rounds, 1)
    budget = args.budget / n_rounds
    for _ in range(n_rounds):
        rounds.append(run(configs, args.repeats, threads, budget))
        if has_torch:
            out = run_python(["-m", "experiments.benchmarks.bench_nn", "--torch-only", "--sizes", args.sizes, "--threads",
                              args.threads, "--budget", str(budget), "--repeats", str(args.repeats)])
            torch_rounds.append({(r["config"], r["threads"]): r["us"]["torch"] for r in json.loads(last_line(out))})
    rows = merge_rounds(rounds, torch_rounds)
    best = best_rows(rows)
    print()
    print(markdown(rows, best))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"peak_gflops": peak, "rows": rows, "best": best}, indent=2))


if __name__ == "__main__":
    main()
