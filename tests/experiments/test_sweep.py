"""Sweeps and --seeds on Ray Tune: spec validation and summaries (no Ray), a tiny local sweep and an
interrupted-then-resumed one (with the 'ray' extra; skipped without it)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.configs import Layer
from experiments.sweep import (
    SpecError,
    SweepSpec,
    check_spec,
    draw_samples,
    load_spec,
    parse_seeds,
    parse_spec,
    seeds_spec,
    summarize,
)

ROOT = Path(__file__).resolve().parents[2]
TINY_CONFIG = {"net_arch": [32, 32], "learning_starts": 200, "train_freq": 4, "gradient_steps": 1,
               "target_update_interval": 100, "buffer_size": 2000}
TINY_SPEC = """
name = "tiny"
algo = "dqn"
env_id = "CartPole-v1"
total_steps = 2000
eval_freq = 1000
eval_episodes = 3
[config]
net_arch = [32, 32]
learning_starts = 200
train_freq = 4
gradient_steps = 1
target_update_interval = 100
buffer_size = 2000
[search]
seed = {grid = [0, 1]}
"""


def _spec(**changes):
    data = {"algo": "dqn", "env_id": "CartPole-v1", "total_steps": 2000, "eval_freq": 1000,
            "config": dict(TINY_CONFIG), "search": {"seed": {"grid": [0, 1]}}}
    data.update(changes)
    return data


# -- no Ray needed ----------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"budget": 5}, "unknown key(s) ['budget']"),
    ({"algo": "trpo"}, "unknown algo 'trpo'"),
    ({"search": {"learning_rate": {"normal": [0, 1]}}}, "search.learning_rate has unknown kind 'normal'"),
    ({"search": {"gamma": {"uniform": [0.99, 0.9]}}}, "search.gamma.uniform must be [low, high]"),
    ({"search": {"learning_rate": {"loguniform": [0, 1e-3]}}}, "needs low > 0"),
    ({"search": {"gamma": [0.9, 0.99]}}, "search.gamma must be a table"),
    ({"scheduler": {"type": "asha", "patience": 3}}, "unknown scheduler key(s) ['patience']"),
    ({"metric": "loss"}, "metric must be one of"),
    ({"num_samples": 4}, "num_samples draws choice/uniform/loguniform entries"),
    ({"total_steps": 5e2 + 0.5}, "'total_steps' must be an integer"),
])
def test_bad_specs_fail_in_one_line_naming_the_key(changes, message):
    with pytest.raises(SpecError) as err:
        parse_spec(_spec(**changes))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("search, message", [
    ({"learning_rte": {"choice": [1e-3]}}, "unknown config key(s) ['learning_rte']"),
    ({"batch_size": {"uniform": [32, 64]}}, "'batch_size' expects int"),
    ({"seed": {"choice": [0, 1]}}, "search.seed must be a grid"),
])
def test_hyperparameters_are_checked_before_ray_starts(search, message):
    spec = parse_spec(_spec(search=search))
    with pytest.raises(SpecError) as err:
        check_spec(spec)
    assert message in str(err.value)


def test_spec_file_defaults_and_examples(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('algo = "dqn"\nenv_id = "CartPole-v1"\n[search]\nlearning_rate = {loguniform = [1e-4, 1e-2]}\n')
    spec = load_spec(path)
    assert spec.name == "mine" and spec.total_steps == 50_000  # from experiments/configs/dqn/CartPole-v1.json
    assert spec.config["net_arch"] == [256, 256]
    (path.with_name("bad.toml")).write_text("algo = \n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(path.with_name("bad.toml"))
    for example in sorted((ROOT / "experiments" / "sweeps").glob("*.toml")):
        check_spec(load_spec(example))


def test_a_spec_is_merged_over_the_tuned_file_as_train_merges_its_config():
    spec = parse_spec({"algo": "dqn", "env_id": "CartPole-v1", "total_steps": 4000, "config": {"batch_size": 16}},
                      where="s.toml")
    assert spec.config["batch_size"] == 16 and spec.config["learning_rate"] == 0.0023   # tuned file kept
    assert (spec.total_steps, spec.eval_freq, spec.checkpoint_freq) == (4000, 10_000, 800)
    assert spec.config_layers == ["experiments/configs/dqn/CartPole-v1.json", "spec s.toml"]
    assert spec.config_sources["batch_size"] == "spec s.toml"
    bare = parse_spec({"algo": "dqn", "env_id": "CartPole-v1", "total_steps": 4000}, tuned=False)
    assert bare.config == {} and bare.eval_freq == 400
    with pytest.raises(SpecError, match="'eval_freq' must be an integer >= 1"):
        parse_spec({"algo": "dqn", "env_id": "CartPole-v1", "eval_freq": 0})


def test_seeds_spec_layers_config_set_and_flags_like_one_run(tmp_path):
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"hyperparameters": {"batch_size": 32}, "eval_episodes": 3}))
    spec = seeds_spec("dqn", "CartPole-v1", [0, 1], [Layer.from_file(mine), Layer.from_sets(["gamma=0.9"]),
                                                     Layer("--steps", run={"total_steps": 3000})])
    assert spec.search == {"seed": {"grid": [0, 1]}} and spec.name == "dqn_CartPole-v1_seeds"
    assert spec.config["batch_size"] == 32 and spec.config["gamma"] == 0.9 and spec.config["learning_rate"] == 0.0023
    assert (spec.total_steps, spec.eval_episodes) == (3000, 3)
    assert spec.merged_config().source_of("gamma") == "--set"
    assert SweepSpec.from_json({**spec.to_json(), "config_source": "old"}) == spec   # an older sweep.json


def test_config_merging_needs_no_import_between_cli_and_sweep():
    code = ("import sys, experiments.sweep, experiments.configs; "
            "print('experiments.cli' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    cli = (ROOT / "experiments" / "cli.py").read_text()
    assert "from experiments.sweep import" in cli and "_parse_sets" not in cli
    for part in (ROOT / "experiments" / "sweep").glob("*.py"):
        assert "experiments.cli" not in part.read_text(), part


def test_samples_are_shared_by_every_seed_and_reproducible():
    spec = parse_spec(_spec(num_samples=3, search={"seed": {"grid": [0, 1]}, "batch_size": {"choice": [32, 64]},
                                                   "learning_rate": {"loguniform": [1e-4, 1e-2]}}))
    samples = draw_samples(spec)
    assert samples == draw_samples(spec) and len(samples) == 3
    assert all(1e-4 <= s["learning_rate"] <= 1e-2 and s["batch_size"] in (32, 64) for s in samples)


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,5,7-8") == [1, 5, 7, 8]
    for bad in ("a-b", "3,3", ""):
        with pytest.raises(SpecError):
            parse_seeds(bad)


def _fake_run(folder: Path, params: dict, final: float, done: bool = True) -> None:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"seed": params["seed"], "params": params, "config": {}}))
    rows = ["kind,step,episode,return,length,time,steps_per_s,eval_mean_return,eval_std_return",
            "episode,50,1,20,50,1,50,,", f"eval,100,2,,,2,,{final - 10},1", f"eval,200,3,,,3,,{final},2"]
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")
    if done:
        (folder / "final.npz").write_bytes(b"")


def test_summary_groups_seeds_and_picks_the_best_config(tmp_path):
    trials = tmp_path / "trials"
    _fake_run(trials / "00000_lr=0.1_seed=0", {"lr": 0.1, "seed": 0}, 100)
    _fake_run(trials / "00001_lr=0.1_seed=1", {"lr": 0.1, "seed": 1}, 200)
    _fake_run(trials / "00002_lr=0.2_seed=0", {"lr": 0.2, "seed": 0}, 300, done=False)
    spec = SweepSpec(name="s", algo="dqn", env_id="CartPole-v1", total_steps=200, eval_freq=100)
    summary = summarize(tmp_path, spec)
    assert summary["best"]["params"] == {"lr": 0.2} and summary["best"]["mean"] == 300
    group = next(g for g in summary["configs"] if g["params"] == {"lr": 0.1})
    assert group["seeds"] == [0, 1] and group["mean"] == 150 and group["std"] == 50
    assert [t["status"] for t in summary["trials"]] == ["done", "done", "stopped"]
    assert "| 00001_lr=0.1_seed=1 | lr=0.1, seed=1 | 200 | 200.0 ± 2.0 | 200.0 | done |" in \
        (tmp_path / "summary.md").read_text()
    assert (tmp_path / "curves.png").is_file()


def test_without_ray_the_commands_say_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    (tmp_path / "s.toml").write_text(TINY_SPEC)
    for argv in (["sweep", str(tmp_path / "s.toml")], ["train", "dqn", "CartPole-v1", "--seeds", "0-1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "pip install 'rlnn[ray]'" in err


# -- with Ray ---------------------------------------------------------------------------------
def _trial_dirs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "trials").iterdir() if p.is_dir())


def test_tiny_local_sweep_writes_run_folders_and_a_summary(tmp_path, capsys):
    pytest.importorskip("ray")
    (tmp_path / "tiny.toml").write_text(TINY_SPEC)
    out = tmp_path / "sweep"
    assert main(["sweep", str(tmp_path / "tiny.toml"), "--workers", "2", "--out", str(out), "--quiet"]) == 0
    runs = _trial_dirs(out)
    assert [r.name for r in runs] == ["00000_seed=0", "00001_seed=1"]
    for run in runs:
        for name in ("run.json", "metrics.csv", "final.npz", "best.npz", "curve.png", "checkpoints/resume.npz"):
            assert (run / name).is_file(), (run, name)
        assert json.loads((run / "run.json").read_text())["total_steps"] == 2000
    summary = json.loads((out / "summary.json").read_text())
    assert [t["seed"] for t in summary["trials"]] == [0, 1]
    for trial in summary["trials"]:
        assert trial["status"] == "done" and trial["steps"] == 2000 and trial["final_eval_mean"] > 0
    assert summary["best"]["n"] == 2 and summary["best"]["mean"] > 0
    assert (out / "curves.png").stat().st_size > 1000 and (out / "summary.md").is_file()
    assert "| 00001_seed=1 | seed=1 | 2000 |" in capsys.readouterr().out
    # a second sweep into the same folder is refused
    assert main(["sweep", str(tmp_path / "tiny.toml"), "--out", str(out), "--quiet"]) == 2
    assert "already holds a sweep" in capsys.readouterr().err


def test_interrupted_seed_runs_resume_where_they_stopped(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "seeds"
    sets = [x for k, v in TINY_CONFIG.items() for x in ("--set", f"{k}={json.dumps(v).replace(' ', '')}")]
    argv = ["train", "dqn", "CartPole-v1", "--seeds", "0-1", "--workers", "2", "--steps", "30000",
            "--eval-freq", "10000", "--checkpoint-freq", "1000", "--quiet", *sets]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", *argv, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:  # Ctrl-C once a trial has its first resumable checkpoint
        deadline = time.monotonic() + 60
        while not list(out.glob("trials/*/checkpoints/resume.npz")) and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "--resume" in err
    stopped = {r.name: json.loads(r.joinpath("run.json").read_text()) for r in _trial_dirs(out)}
    assert stopped and not any((r / "final.npz").exists() for r in _trial_dirs(out))

    assert main([*argv, "--resume", str(out)]) == 0
    for run in _trial_dirs(out):
        assert (run / "final.npz").is_file()
        steps = [int(line.split(",")[1]) for line in (run / "metrics.csv").read_text().splitlines()[1:]
                 if line.startswith("episode")]
        assert steps == sorted(set(steps)), "rows were logged twice: the run restarted instead of resuming"
    summary = json.loads((out / "summary.json").read_text())
    assert [t["steps"] for t in summary["trials"]] == [30000, 30000]
