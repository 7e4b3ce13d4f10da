"""rlnn vs Stable-Baselines3 (PyTorch CPU) on the same machine, in one invocation.

    pip install -e '.[bench]'
    python -m experiments.benchmarks.compare_sb3 --seeds 3 --md results.md --json results.json
    python -m experiments.benchmarks.compare_sb3 --tasks ppo-cartpole --seeds 3     # PPO (see below)

Tasks, with rl-baselines3-zoo's hyperparameters on both sides: DQN CartPole-v1 50k steps,
SAC Pendulum-v1 20k, TD3 Pendulum-v1 20k (the default ``--tasks``); and, named with ``--tasks``,
PPO CartPole-v1 100k (``ppo-cartpole``), PPO LunarLander-v3 1M (``ppo-lunarlander``) and A2C
CartPole-v1 100k (``a2c-cartpole``), with the shipped tuned configs
(``experiments/configs/ppo/``, ``a2c/``) mapped onto SB3's PPO and A2C by
:mod:`experiments.benchmarks.sb3_mapping` (``n_envs`` envs in the same kind of vector env,
schedules, networks, normalization as ``VecNormalize``). An on-policy budget is rounded up to
whole rollouts, since SB3 always finishes the rollout it is in: both libraries then collect the
same transitions and make the same number of minibatch steps (``--steps N`` sets every run's
budget instead, for smoke tests). Every run is a fresh subprocess (so thread settings and
imports start clean); the two libraries alternate run by run (rlnn first for even seeds, SB3
first for odd ones) so background load hits both alike. Each run reports its wall time, env
steps per second, number of gradient updates (PPO: minibatch steps) and the mean return of 20
deterministic evaluation episodes (the same seeds for both libraries).

Settings: "default" is what a user gets without flags (rlnn: ``lanes`` and ``blas_threads``
"auto"; PyTorch: its own thread count, one per core), in the process environment as it is.
The fixed ones are thread counts ("1", "2": BLAS threads through threadpoolctl for rlnn,
``torch.set_num_threads`` for PyTorch) and, for rlnn, lanes: "2L" splits each batch's rows over
this process and a forked worker, one BLAS thread each (``agents.parallel``). A short
calibration run per library, task and fixed setting picks each library's best; both libraries
then run at their default and at their best (once, where the two are the same setting).
Calibration compares steady-state seconds per update: the clock starts once the first quarter
of the run's updates is done, so one-time costs (first-touch allocation, forking a worker),
which a full run spreads over 5-50 times more updates, do not decide the pick. PPO and A2C
update in one process (no lanes: their settings are thread counts), and their calibration
runs last at least 4 rollouts. A library with one setting to try is not calibrated.

``--under-load`` measures instead what the settings cost while another program keeps a core
busy: the benchmark starts one busy process of its own (a Python spin loop, not pinned) for
the whole measurement and times short SAC and TD3 Pendulum runs (3,000 steps, learning_starts
500) at every setting of both libraries, the settings in turn, ``--rounds`` times.

The report starts with the network microbenchmark (``experiments.benchmarks.bench_nn``: one forward,
backward and Adam step of rlnn, bare numpy and PyTorch, with the machine's matmul peak), run in
its own subprocess first; ``--nn-budget 0`` skips it.

The matmul floor of a run is the FLOPs its updates must do (the matrix products of the
forward and backward passes that the algorithm needs, counted from the layer sizes) divided
by the machine's measured float32 matmul throughput at that thread count. A shared VM's speed
drifts over the hour a comparison takes (its 1024^3 matmul here has measured anywhere from 46 to
91 GFLOP/s on one thread within a morning), so the throughput is measured again, in a fresh
process, right before and right after every run, and the run's floor uses the higher of the two.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from experiments.benchmarks.processes import last_line, run_python, thread_env
from experiments.benchmarks.sb3_mapping import sb3_gradient_steps, sb3_policy, sb3_setup
from experiments.benchmarks.tasks import (
    DEFAULT_TASKS,
    TASKS,
    budget,
    first_update_step,
    flops_per_update,
    on_policy,
    zoo_hyperparameters,
)

EVAL_EPISODES = 20
CALIBRATION_WARM_UP = 0.25   # share of a calibration run's updates done before its clock starts
CALIBRATION_ROLLOUTS = 4     # an on-policy calibration run's least length: the clock starts after the first


def calibration_budget(task: str, steps: int) -> int:
    """A calibration run: ``steps`` past the first update (at least 4 rollouts on-policy)."""
    if on_policy(task):
        return budget(task, max(steps, CALIBRATION_ROLLOUTS * first_update_step(task)))
    return steps + first_update_step(task)


# -- one run (in a subprocess) ------------------------------------------------------------------

def parse_setting(setting: str) -> tuple[int | str, int | str]:
    """``(blas_threads, lanes)`` of a setting: "default" is ``("auto", "auto")``; "N" is N BLAS
    threads in one process; "NL" is N processes (lanes) with one BLAS thread each."""
    if setting == "default":
        return "auto", "auto"
    if "L" not in setting:
        return int(setting), 1
    return 1, int(setting.rstrip("L"))


def cores(setting: str) -> int:
    """Cores a setting uses: "2" and "2L" use two; "default" one per core, two at most (as the
    auto choice and PyTorch's default do on this machine)."""
    if setting == "default":
        return min(os.cpu_count() or 1, 2)
    blas, lanes = parse_setting(setting)
    return max(int(blas), int(lanes))


def _steady_from(start: int, steps: int, warm: float) -> int:
    """The env step from which a run of ``steps`` counts as steady: ``warm`` of the way from
    ``learning_starts`` (where updates begin) to the end; past the end (never) when ``warm`` is 0."""
    return start + int(warm * (steps - start)) if warm > 0 else steps + 1


def run_rlnn(task: str, seed: int, setting: str, steps: int, warm: float = 0.0,
             overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    import gymnasium as gym

    import agents
    from agents.callbacks import Callback
    from agents.config import RunSettings

    spec = TASKS[task]
    hp = {**zoo_hyperparameters(task), **spec["rlnn_overrides"], **(overrides or {})}
    env = gym.make(spec["env_id"])
    agent = agents.ALGORITHMS[spec["algo"]](env.observation_space, env.action_space, hp, seed=seed)
    blas, lanes = parse_setting(setting)
    steady_from, mark = _steady_from(first_update_step(task), steps, warm), {}

    def marking(step: int) -> None:
        if not mark and step >= steady_from:
            mark.update(time=time.perf_counter(), updates=agent.n_updates)

    class Marker(Callback):     # on-policy: after each loop step (n_envs env steps) and its update
        def on_step(self, trainer: Any) -> None:
            marking(trainer.step)

    trainer = agents.trainer_class(spec["algo"])(
        agent, spec["env_id"], RunSettings(steps, seed, progress=False, blas_threads=blas, lanes=lanes),
        callbacks=[Marker()] if on_policy(task) else ())
    if not on_policy(task):
        on_step = agent.on_step

        def marking_on_step(step: int) -> None:     # the trainer calls this after every env step
            on_step(step)
            marking(step)

        agent.on_step = marking_on_step
    start = time.perf_counter()
    trainer.run()
    end = time.perf_counter()
    return {"wall_s": end - start, "updates": agent.n_updates, **_steady(mark, end, agent.n_updates),
            "resolved": f"{trainer.lanes} lane(s), {trainer.blas_threads} BLAS thread(s)",
            "policy": lambda o: agent.act(o, deterministic=True)}


def _steady(mark: dict[str, float], end: float, updates: int) -> dict[str, float]:
    if not mark:
        return {}
    return {"steady_s": end - mark["time"], "steady_updates": updates - mark["updates"]}


def run_sb3(task: str, seed: int, setting: str, steps: int, warm: float = 0.0,
            overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    import gymnasium as gym
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    if setting != "default":
        torch.set_num_threads(cores(setting))
    spec = TASKS[task]
    hp = {**zoo_hyperparameters(task), **(overrides or {})}
    model, _ = sb3_setup(spec["algo"], lambda: gym.make(spec["env_id"]), hp, seed)
    steady_from, mark = _steady_from(first_update_step(task), steps, warm), {}

    class Marker(BaseCallback):
        def _on_step(self) -> bool:     # SB3 calls this after every (vector) env step
            if not mark and self.num_timesteps >= steady_from:
                mark.update(time=time.perf_counter(), updates=sb3_gradient_steps(self.model))
            return True

    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=Marker() if warm > 0 else None)
    end = time.perf_counter()
    updates = sb3_gradient_steps(model)
    return {"wall_s": end - start, "updates": updates, **_steady(mark, end, updates),
            "resolved": f"{torch.get_num_threads()} torch thread(s)", "policy": sb3_policy(model)}


def one_run(lib: str, task: str, seed: int, setting: str, steps: int, warm: float = 0.0,
            overrides: dict[str, Any] | None = None, evaluate_policy: bool = True) -> dict[str, Any]:
    import gymnasium as gym

    from agents.blas import blas_threads
    from agents.evaluation import evaluate

    # numpy's BLAS for both (SB3 uses numpy too); rlnn's trainer sets its own during the run
    steps, threads = budget(task, steps), parse_setting(setting)[0]
    with blas_threads(None if threads == "auto" else threads):
        result = (run_rlnn if lib == "rlnn" else run_sb3)(task, seed, setting, steps, warm, overrides)
        policy = result.pop("policy")
        ev = evaluate(policy, gym.make(TASKS[task]["env_id"]), EVAL_EPISODES) if evaluate_policy else None
    env = gym.make(TASKS[task]["env_id"])
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.shape[0] if hasattr(env.action_space, "shape") and env.action_space.shape else int(env.action_space.n)
    return {"lib": lib, "task": task, "seed": seed, "threads": setting, "steps": steps, **result,
            "steps_per_s": steps / result["wall_s"], "eval_mean_return": ev.mean_return if ev else None,
            "eval_std_return": ev.std_return if ev else None,
            "flops_per_update": flops_per_update(task, obs_dim, act_dim, zoo_hyperparameters(task))}


def spawn(lib: str, task: str, seed: int, setting: str, steps: int, warm: float = 0.0,
          overrides: dict[str, Any] | None = None, evaluate_policy: bool = True) -> dict[str, Any]:
    """:func:`one_run` in a fresh process: a fixed setting's thread limits in its environment,
    the environment as it is for "default"."""
    env = None if setting == "default" else thread_env(cores(setting))
    out = run_python(["-m", "experiments.benchmarks.compare_sb3", "--one", lib, task, str(seed), setting,
                      str(steps), str(warm), json.dumps(overrides or {}), str(int(evaluate_policy))], env)
    return json.loads(last_line(out))


# -- the whole comparison -------------------------------------------------------------------------

def network_benchmark(budget: float) -> tuple[str, dict[str, Any]]:
    """Run ``experiments.benchmarks.bench_nn`` in a subprocess; its Markdown report and its JSON figures."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "nn.json"
        out = run_python(["-m", "experiments.benchmarks.bench_nn", "--budget", str(budget), "--json", str(figures)])
        return out.strip(), json.loads(figures.read_text())


def settings_for(lib: str, task: str, thread_options: list[str]) -> list[str]:
    """The fixed settings to calibrate: the given counts, plus for rlnn with 2 among them two
    lanes ("2L": rows split over two processes)."""
    extra = ["2L"] if lib == "rlnn" and "2" in thread_options and not on_policy(task) else []
    return [*thread_options, *extra]


def resolve_default(lib: str, task: str) -> str:
    """The fixed setting a library's default amounts to for ``task`` on this machine (so a run
    at the default and one at the best setting are not both made when they are the same)."""
    if lib == "sb3":
        import torch
        return str(torch.get_num_threads())
    if on_policy(task):
        return "1"      # one process, one BLAS thread ("auto")
    import gymnasium as gym

    import agents
    from agents.parallel import choose_lanes

    spec = TASKS[task]
    env = gym.make(spec["env_id"])
    agent = agents.ALGORITHMS[spec["algo"]](env.observation_space, env.action_space,
                                            {**zoo_hyperparameters(task), **spec["rlnn_overrides"]})
    lanes = choose_lanes(agent)
    return f"{lanes}L" if lanes > 1 else "1"


def calibrate(task: str, lib: str, thread_options: list[str], steps: int, rounds: int = 2,
              ) -> tuple[str, dict[str, float]]:
    """Time a short run per setting, ``rounds`` times in turn (the best of the rounds counts, so
    a burst of background load does not decide); return the fastest setting and every
    setting's steady-state seconds per update (wall time over updates after the first quarter
    of them, env steps included)."""
    per_update: dict[str, float] = {}
    if len(thread_options) == 1:
        return thread_options[0], per_update
    for _ in range(rounds):
        for t in thread_options:
            r = spawn(lib, task, 0, t, steps, warm=CALIBRATION_WARM_UP)
            per_update[t] = min(per_update.get(t, float("inf")), r["steady_s"] / max(r["steady_updates"], 1))
    return min(per_update, key=per_update.get), per_update


def blas_kernel() -> dict[str, Any]:
    """numpy's BLAS as it runs in this process: library, version and the CPU kernel it picked
    (OpenBLAS picks by CPU unless ``OPENBLAS_CORETYPE`` forces one: on this workplace's AVX-512
    machines it is set to "Haswell", an AVX2 kernel, which halves float32 matmul throughput),
    and the worst relative error of a float32 matmul against float64, so a kernel that computes
    wrong results stops the comparison instead of timing it."""
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = next((i for i in threadpool_info() if i.get("user_api") == "blas"), {})
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 384, 384)).astype(np.float32)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    error = float(np.max(np.abs(a @ b - exact)) / np.max(np.abs(exact)))
    if not error < 1e-4:
        raise RuntimeError(f"numpy's BLAS ({blas.get('architecture')}) computes a float32 matmul with relative "
                           f"error {error:.3g}: refusing to benchmark a kernel that gives wrong results")
    return {"library": blas.get("internal_api"), "version": blas.get("version"),
            "kernel": blas.get("architecture"), "matmul_rel_error": error,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}


def measure_peak(threads: int) -> float:
    """The float32 matmul peak at ``threads`` BLAS threads, in a fresh process (so the run
    that follows starts with no BLAS threads of ours spinning)."""
    code = f"from experiments.benchmarks.bench_nn import matmul_peak_gflops; print(matmul_peak_gflops(threads={threads}))"
    return float(last_line(run_python(["-c", code], thread_env(threads))))


def floor_seconds(row: dict[str, Any], peaks: dict[int, float]) -> float:
    """The run's matmul floor: its updates' FLOPs at the peak measured around it (at the
    invocation's start for rows that have none)."""
    peak = row.get("peak_gflops") or peaks[cores(str(row["threads"]))]
    return row["updates"] * row["flops_per_update"] / (peak * 1e9)


def markdown(rows: list[dict[str, Any]], peaks: dict[int, float]) -> str:
    lines = [("| task | seed | lib | setting | as run | wall s | steps/s | updates | eval return (20 ep) "
              "| peak GFLOP/s (before, after) | floor s | wall / floor |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        floor = floor_seconds(r, peaks)
        around = ", ".join(f"{g:.0f}" for g in r.get("peaks_before_after", []))
        lines.append(f"| {r['task']} | {r['seed']} | {r['lib']} | {'/'.join(r['roles'])} ({r['threads']}) | "
                     f"{r.get('resolved', '-')} | {r['wall_s']:.1f} | {r['steps_per_s']:.0f} | {r['updates']} | "
                     f"{r['eval_mean_return']:.1f} ± {r['eval_std_return']:.1f} | "
                     f"{around or '-'} | {floor:.1f} | {r['wall_s'] / floor:.2f} |")
    lines += ["", ("| task | rlnn default s | rlnn best s (setting) | SB3 default s | SB3 best s (setting) "
                   "| SB3 default / rlnn default | SB3 best / rlnn best | rlnn default / rlnn best "
                   "| rlnn default wall / floor | rlnn return | SB3 return |"),
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        def runs(lib: str, role: str) -> list[dict[str, Any]]:
            return [r for r in rows if r["task"] == task and r["lib"] == lib and role in r["roles"]]

        med = {(lib, role): statistics.median(r["wall_s"] for r in runs(lib, role))
               for lib in ("rlnn", "sb3") for role in ("default", "best") if runs(lib, role)}
        if len(med) < 4:
            continue
        best_setting = {lib: runs(lib, "best")[0]["threads"] for lib in ("rlnn", "sb3")}
        ratios = [r["wall_s"] / floor_seconds(r, peaks) for r in runs("rlnn", "default")]
        lines.append(f"| {task} | {med['rlnn', 'default']:.1f} | {med['rlnn', 'best']:.1f} ({best_setting['rlnn']}) | "
                     f"{med['sb3', 'default']:.1f} | {med['sb3', 'best']:.1f} ({best_setting['sb3']}) | "
                     f"{med['sb3', 'default'] / med['rlnn', 'default']:.2f}x | "
                     f"{med['sb3', 'best'] / med['rlnn', 'best']:.2f}x | "
                     f"{med['rlnn', 'default'] / med['rlnn', 'best']:.2f} | {min(ratios):.2f}-{max(ratios):.2f} | "
                     f"{statistics.mean(r['eval_mean_return'] for r in runs('rlnn', 'default')):.1f} | "
                     f"{statistics.mean(r['eval_mean_return'] for r in runs('sb3', 'default')):.1f} |")
    return "\n".join(lines)


# -- under load -----------------------------------------------------------------------------------

LOAD_TASKS = ("sac-pendulum", "td3-pendulum")
LOAD_STEPS, LOAD_LEARNING_STARTS = 3000, 500
# PyTorch's default on a 2-core machine is 2 threads, so SB3's "2" would repeat its "default".
LOAD_SETTINGS = {"rlnn": ("default", "1", "2", "2L"), "sb3": ("default", "1")}


def busy_process() -> Any:
    """One process that keeps a core busy until it is stopped (not pinned: the OS moves it)."""
    import subprocess
    import sys
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def under_load(rounds: int, tasks: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Every setting of both libraries, in turn, ``rounds`` times, while :func:`busy_process`
    runs; the rows and a Markdown table of medians."""
    rows = []
    hog = busy_process()
    try:
        for r in range(rounds):
            for task in tasks:
                for lib, settings in LOAD_SETTINGS.items():
                    for setting in settings:
                        row = spawn(lib, task, 0, setting, LOAD_STEPS, overrides={"learning_starts": LOAD_LEARNING_STARTS},
                                    evaluate_policy=False)
                        row["round"] = r
                        rows.append(row)
                        print(f"under load {task} {lib} {setting} ({row['resolved']}): {row['wall_s']:.1f} s", flush=True)
    finally:
        hog.kill()
        hog.wait()
    lines = ["| task | lib | setting | as run | median wall s | runs |", "|---|---|---|---|---|---|"]
    summary = []
    for task in tasks:
        med = {}
        for lib, settings in LOAD_SETTINGS.items():
            for setting in settings:
                mine = [x for x in rows if x["task"] == task and x["lib"] == lib and x["threads"] == setting]
                med[lib, setting] = statistics.median(x["wall_s"] for x in mine)
                lines.append(f"| {task} | {lib} | {setting} | {mine[0]['resolved']} | {med[lib, setting]:.1f} | "
                             + ", ".join(f"{x['wall_s']:.1f}" for x in mine) + " |")
        best_fixed = min((v, k[1]) for k, v in med.items() if k[0] == "rlnn" and k[1] != "default")
        summary.append(f"| {task} | {med['rlnn', 'default']:.1f} | {best_fixed[0]:.1f} ({best_fixed[1]}) | "
                       f"{med['rlnn', 'default'] / best_fixed[0]:.2f} | {med['sb3', 'default']:.1f} | "
                       f"{med['sb3', 'default'] / med['rlnn', 'default']:.2f}x |")
    table = "\n".join(lines + ["", "| task | rlnn default s | rlnn best fixed s | default / best fixed (goal ≤ 1.3) "
                                      "| SB3 default s | SB3 default / rlnn default (goal ≥ 3) |",
                                "|---|---|---|---|---|---|", *summary])
    return rows, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", nargs=8, help=argparse.SUPPRESS)
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS), help=f"of {', '.join(TASKS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="thread counts to calibrate over (rlnn also tries "
                                                         "lanes, '2L', when 2 is among them)")
    parser.add_argument("--steps", type=int, help="env steps of every run (default: each task's; for smoke tests)")
    parser.add_argument("--calibration-steps", type=int, default=3000)
    parser.add_argument("--calibration-rounds", type=int, default=2)
    parser.add_argument("--nn-budget", type=float, default=2.0,
                        help="seconds per configuration for the network microbenchmark (0: skip it)")
    parser.add_argument("--under-load", action="store_true",
                        help="time short SAC/TD3 runs at every setting while a busy process of ours runs")
    parser.add_argument("--rounds", type=int, default=3, help="with --under-load: rounds over the settings")
    parser.add_argument("--json")
    parser.add_argument("--md")
    args = parser.parse_args(argv)
    if args.one:
        lib, task, seed, threads, steps, warm, overrides, evaluate_policy = args.one
        print(json.dumps(one_run(lib, task, int(seed), threads, int(steps), float(warm), json.loads(overrides),
                                 bool(int(evaluate_policy)))))
        return 0
    from experiments.benchmarks.bench_nn import matmul_peak_gflops

    kernel = blas_kernel()
    blas = f"numpy BLAS: {kernel['library']} {kernel['version']}, kernel {kernel['kernel']}"
    print(f"{blas} (float32 matmul relative error {kernel['matmul_rel_error']:.1e})", flush=True)
    machine = {"cpus": os.cpu_count(), "cpu": cpu_name(), "load_avg_at_start": os.getloadavg()}
    if args.under_load:
        tasks = [t for t in args.tasks.split(",") if t in LOAD_TASKS] or list(LOAD_TASKS)
        rows, table = under_load(args.rounds, tasks)
        table = f"{machine['cpu']}; {blas}; one busy process of the benchmark's own\n\n" + table
        print(table)
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine, "blas": kernel, "runs": rows}, indent=2))
        if args.md:
            Path(args.md).write_text(table + "\n")
        return 0
    nn_report, nn_figures = network_benchmark(args.nn_budget) if args.nn_budget > 0 else ("", {})
    if nn_report:
        print(nn_report, flush=True)
    thread_options = args.threads.split(",")
    # The network step measured the peak already; measure only the thread counts it did not.
    measured = nn_figures.get("peak_gflops", {})
    peaks = {cores(t): measured.get(str(cores(t))) or matmul_peak_gflops(threads=cores(t)) for t in thread_options}
    print("float32 matmul peak: " + ", ".join(f"{t} thread(s) {g:.1f} GFLOP/s" for t, g in peaks.items()), flush=True)
    rows, calibration = [], {}
    for task in args.tasks.split(","):
        plan = {}
        for lib in ("rlnn", "sb3"):
            steps = calibration_budget(task, args.calibration_steps)   # it must reach the updates
            best, calibration[f"{task}/{lib}"] = calibrate(task, lib, settings_for(lib, task, thread_options),
                                                           steps, args.calibration_rounds)
            default = resolve_default(lib, task)
            print(f"{task} {lib}: s/update by setting {calibration[f'{task}/{lib}']} -> best {best}; "
                  f"default amounts to {default}", flush=True)
            plan[lib] = {"default": ["default", "best"]} if best == default else {"default": ["default"], best: ["best"]}
        for seed in range(args.seeds):
            order = ("rlnn", "sb3") if seed % 2 == 0 else ("sb3", "rlnn")
            for lib in order:
                for setting, roles in plan[lib].items():
                    # the floor at the peak of the cores the run uses: rlnn's PPO and A2C default is one
                    threads = 1 if lib == "rlnn" and setting == "default" and on_policy(task) else cores(setting)
                    before = measure_peak(threads)
                    row = spawn(lib, task, seed, setting, args.steps or TASKS[task]["steps"])
                    row["roles"] = roles
                    row["peaks_before_after"] = [before, measure_peak(threads)]
                    row["peak_gflops"] = max(row["peaks_before_after"])
                    rows.append(row)
                    print(f"{task} seed {seed} {lib} {setting} ({row['resolved']}): {row['wall_s']:.1f} s, "
                          f"return {row['eval_mean_return']:.1f}", flush=True)
    table = (f"{machine['cpu']}; {blas}; float32 matmul peak: "
             + ", ".join(f"{t} thread(s) {g:.0f} GFLOP/s" for t, g in peaks.items()) + "\n\n" + markdown(rows, peaks))
    if nn_report:
        table = "## Network step\n\n" + nn_report + "\n\n## Training runs\n\n" + table
    print(table)
    meta = {"machine": machine, "blas": kernel, "matmul_peak_gflops": peaks,
            "calibration_s_per_update": calibration, "runs": rows, "network_step": nn_figures}
    if args.json:
        Path(args.json).write_text(json.dumps(meta, indent=2))
    if args.md:
        Path(args.md).write_text(table + "\n")
    return 0


def cpu_name() -> str:
    """The CPU's model name and family (the ratios move with it)."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return "unknown CPU"
    return f"{fields.get('model name', 'CPU')} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"


if __name__ == "__main__":
    raise SystemExit(main())
