"""Many seeds and hyperparameter sweeps on Ray Tune (the optional extra ``ray``).

    rlnn sweep experiments/sweeps/dqn_cartpole_search.toml --workers 2 --out runs/sweeps/search
    rlnn train dqn CartPole-v1 --seeds 0-4 --out runs/cartpole_seeds

We do not schedule anything ourselves: every trial is a plain Ray Tune function trainable that
runs the ordinary ``OffPolicyTrainer`` and writes the same run folder ``rlnn train`` writes, under
``<out>/trials/<trial name>/``. Ray's own state lives in ``<storage>/tune`` (``storage`` defaults to
the sweep folder), so ``--resume`` restores the sweep, and a restarted trial continues from its
run folder's ``checkpoints/resume.npz`` (exactly, as ``rlnn train --resume`` does).

The parts, one concern each: :mod:`.spec` (the TOML spec, checked without Ray, and the
configurations it draws), :mod:`.trial` (one trial), :mod:`.summary` (the results from the run
folders) and :mod:`.runner` (Ray and the sweep folder). A spec (TOML)::

    name = "dqn_cartpole"            # default: the file name
    algo = "dqn"
    env_id = "CartPole-v1"
    total_steps = 50_000             # per trial (default: the tuned config's)
    eval_freq = 10_000               # env steps between evaluations (they are what Tune sees)
    eval_episodes = 10
    metric = "eval_mean_return"      # or "eval_std_return"
    mode = "max"                     # or "min"
    num_samples = 1                  # configurations drawn from the random entries; each runs every grid point
    [config]                         # fixed hyperparameters, over the tuned config file
    net_arch = [64, 64]
    [search]                         # grid / choice / uniform / loguniform
    seed = {grid = [0, 1, 2]}
    learning_rate = {loguniform = [1e-4, 1e-2]}
    [scheduler]                      # optional early stopping of bad trials
    type = "asha"
    grace_period = 10_000            # env steps
    reduction_factor = 3

After the sweep: ``summary.json``, ``summary.md`` (one row per trial, then mean ± std over seeds
of the final evaluation for each configuration, and the best configuration) and ``curves.png``.
"""

from experiments.sweep.runner import RAY_HINT, TUNE_DIR, default_out, require_ray, run_sweep
from experiments.sweep.spec import (
    SpecError,
    SweepSpec,
    check_spec,
    draw_samples,
    flat_params,
    load_spec,
    make_agent,
    parse_seeds,
    parse_spec,
    seeds_spec,
)
from experiments.sweep.summary import TRIALS_DIR, summarize, summary_markdown
from experiments.sweep.trial import run_trial, trial_name

__all__ = [
    "RAY_HINT",
    "TRIALS_DIR",
    "TUNE_DIR",
    "SpecError",
    "SweepSpec",
    "check_spec",
    "default_out",
    "draw_samples",
    "flat_params",
    "load_spec",
    "make_agent",
    "parse_seeds",
    "parse_spec",
    "require_ray",
    "run_sweep",
    "run_trial",
    "seeds_spec",
    "summarize",
    "summary_markdown",
    "trial_name",
]
