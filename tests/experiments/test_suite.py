"""The benchmark suite command: suite files, subsets, the plan, resuming, the report and curves.
Real runs are tiny (DQN CartPole, 600 steps, a 32-32 network); the rest uses synthetic files."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.benchmarks.suite import spec as suite_spec
from experiments.benchmarks.suite.cli import main
from experiments.benchmarks.suite.report import aggregate, compare, draw_curves, goal_status, write_report
from experiments.benchmarks.suite.runner import eta_seconds
from experiments.benchmarks.suite.spec import LIBS, Goal, SuiteError, load_suite, plan_runs, select
from experiments.benchmarks.suite.state import DONE, EVALUATE, FRESH, RESUME, RunPaths, run_state

HAS_SB3 = importlib.util.find_spec("stable_baselines3") is not None
TINY = """
[[entry]]
algo = "dqn"
env_id = "CartPole-v1"
steps = {steps}
seeds = 2
eval_freq = 300
goal = {{ threshold = 9, seeds = 2 }}
[entry.config]
learning_starts = 100
train_freq = {train_freq}
gradient_steps = 1
net_arch = [32, 32]
batch_size = 32
"""


def tiny_suite(tmp_path: Path, steps: int = 600, train_freq: int = 4, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(steps=steps, train_freq=train_freq))
    return path


# -- suite files --------------------------------------------------------------------------------
def test_the_shipped_suites_hold_the_issue_table():
    classic = {(e.algo, e.env_id): (e.steps, len(e.seeds), e.goal) for e in load_suite("classic").entries}
    assert classic == {
        ("dqn", "CartPole-v1"): (50_000, 5, Goal(475, 5)), ("dqn", "Acrobot-v1"): (100_000, 5, Goal(-80, 4)),
        ("dqn", "MountainCar-v0"): (120_000, 5, Goal(-110, 4)), ("dqn", "LunarLander-v3"): (100_000, 5, Goal(150, 4)),
        ("sac", "Pendulum-v1"): (20_000, 5, Goal(-160, 4)), ("td3", "Pendulum-v1"): (20_000, 5, Goal(-160, 4)),
        ("sac", "MountainCarContinuous-v0"): (50_000, 5, Goal(90, 4)),
        ("sac", "LunarLanderContinuous-v3"): (300_000, 3, Goal(250, 3)),
        ("td3", "LunarLanderContinuous-v3"): (300_000, 3, Goal(200, 3)),
        ("sac", "BipedalWalker-v3"): (500_000, 3, Goal(290, 3))}
    mujoco = {(e.algo, e.env_id): (e.steps, len(e.seeds), e.goal.threshold) for e in load_suite("mujoco").entries}
    assert mujoco == {("sac", "Hopper-v5"): (300_000, 3, 2500), ("sac", "HalfCheetah-v5"): (300_000, 3, 5000),
                      ("sac", "Walker2d-v5"): (300_000, 3, 2500), ("td3", "HalfCheetah-v5"): (300_000, 3, 5000)}
    ppo = {e.env_id: (e.steps, len(e.seeds), e.goal.threshold, e.goal.seeds) for e in load_suite("ppo").entries}
    assert ppo == {"CartPole-v1": (100_000, 5, 500, 5), "Acrobot-v1": (1_000_000, 5, -80, 4),    # issue 20's table
                   "LunarLander-v3": (1_000_000, 3, 240, 3), "HalfCheetah-v5": (1_000_000, 3, 3000, 3),
                   "Hopper-v5": (1_000_000, 3, 2500, 3)}
    short = {e.env_id for e in load_suite("classic").entries if e.sb3}       # SB3 side by side on these only
    assert short == {"CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0"}


ENTRY = "[[entry]]\nalgo = 'dqn'\nenv_id = 'CartPole-v1'\nsteps = 100\n"


@pytest.mark.parametrize(("text", "message"), [
    ("[[entry]\nalgo = 1", "not valid TOML"),
    ("title = 'x'\n[[entry]]\nalgo = 'dqn'", r"unknown key\(s\) \['title'\]"),
    ("", "no entries"),
    (ENTRY, "needs 'seeds'"),
    (ENTRY.replace("dqn", "trpo") + "seeds = 1", "unknown algo 'trpo'"),
    (ENTRY.replace("CartPole", "CartPol") + "seeds = 1", "not registered"),
    (ENTRY.replace("'CartPole", "'os:CartPole") + "seeds = 1", "not a plain Gymnasium"),
    (ENTRY.replace("100", "5e3") + "seeds = 1", "steps must be a positive whole"),
    (ENTRY + "seeds = [1, 1]", "distinct"),
    (ENTRY + "seeds = 2\ngoal = { threshold = 1, seeds = 3 }", "goal.seeds must be a whole number from 1 to the 2"),
    (ENTRY + "seeds = 2\ngoal = 475", "goal must be a table"),
    (ENTRY + "seeds = 1\nconfig = { ent_coef = 0.1 }", r"config key\(s\) \['ent_coef'\] are not dqn hyperparameters"),
    (ENTRY + "seeds = 1\nsb3 = 'yes'", "sb3 must be true or false"),
    (ENTRY + "seeds = 1\nconfig = { gamma = 1979-05-27 }", "config holds a value that is not a number"),
    (ENTRY + "seeds = 1\n" + ENTRY + "seeds = 2", "has the name 'dqn_CartPole-v1' of entry 1"),
])
def test_a_bad_suite_file_is_one_line_naming_the_problem(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SuiteError, match=message) as caught:
        load_suite(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert main([str(path), "--dry-run", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("suite: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_suite_names_the_shipped_ones(capsys):
    assert main(["nosuch", "--dry-run"]) == 2
    assert "suite file not found" in capsys.readouterr().err
    with pytest.raises(SuiteError, match="shipped suites: classic, mujoco, ppo"):
        load_suite("nosuch")


# -- the plan and subsets -----------------------------------------------------------------------
def test_runs_alternate_libraries_seed_by_seed_and_sb3_skips_the_long_tasks():
    runs = plan_runs(load_suite("classic"), LIBS)
    assert [(r.lib, r.seed) for r in runs[:4]] == [("rlnn", 0), ("sb3", 0), ("sb3", 1), ("rlnn", 1)]
    assert not [r for r in runs if r.lib == "sb3" and r.entry.env_id in ("LunarLander-v3", "BipedalWalker-v3")]
    assert len(plan_runs(load_suite("classic"), ("rlnn",))) == 7 * 5 + 3 * 3       # 7 entries of 5 seeds, 3 of 3
    assert all(not r.tuned for r in plan_runs(load_suite("classic"), ("rlnn",), no_tuned=True))


def test_only_selects_by_algorithm_task_and_seed():
    runs = plan_runs(load_suite("classic"), ("rlnn",))

    def chosen(*patterns):
        return sorted((r.entry.algo, r.entry.env_id, r.seed) for r in select(runs, patterns))

    assert {a for a, _, _ in chosen("dqn")} == {"dqn"} and len(chosen("dqn")) == 20
    assert chosen("sac:Pendulum-v1:0-1") == [("sac", "Pendulum-v1", 0), ("sac", "Pendulum-v1", 1)]
    assert len(chosen(":*lunar*")) == 5 + 3 + 3                          # case-insensitive globs, any algo
    assert chosen("td3::2", "sac:BipedalWalker-v3:0") == [
        ("sac", "BipedalWalker-v3", 0), ("td3", "LunarLanderContinuous-v3", 2), ("td3", "Pendulum-v1", 2)]
    assert len(chosen()) == len(runs)
    for bad, message in (("dqn:CartPole-v1:x", "seeds must be like 0-2,4"), ("a:b:c:d", "ALGO"),
                         ("trpo", "matches no run"), ("dqn:Pendulum-v1", "matches no run")):
        with pytest.raises(SuiteError, match=message):
            select(runs, [bad])


def test_dry_run_prints_every_run_with_its_command_and_runs_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["classic", "--dry-run", "--out", str(out), "--only", "dqn:CartPole-v1", "--lib", "rlnn"]) == 0
    text = capsys.readouterr().out
    assert "5 run(s): 5 fresh; 250,000 env steps to train" in text
    assert text.count("experiments.cli train dqn CartPole-v1 --seed") == 5
    assert "--blas-threads 1 --lanes 1" in text and "--no-tuned" not in text
    assert not out.exists()
    main(["classic", "--dry-run", "--out", str(out), "--only", "sac:Pendulum-v1:0", "--no-tuned"])
    assert "--no-tuned" in capsys.readouterr().out


# -- resuming -----------------------------------------------------------------------------------
def test_run_state_comes_from_the_run_folder_and_the_result(tmp_path):
    suite = load_suite(tiny_suite(tmp_path))
    rlnn, sb3 = (plan_runs(suite, (lib,))[0] for lib in LIBS)
    out = tmp_path / "out"
    assert run_state(out, rlnn) == FRESH
    paths = RunPaths(out, rlnn)
    (paths.run_dir / "checkpoints").mkdir(parents=True)
    (paths.run_dir / "run.json").write_text("{}")
    with pytest.raises(SuiteError, match="a run the suite did not start"):
        run_state(out, rlnn)
    paths.spec.write_text(json.dumps(rlnn.spec()))
    assert run_state(out, rlnn) == FRESH                    # started, but killed before its first checkpoint
    (paths.run_dir / "checkpoints" / "resume.npz").write_bytes(b"")
    assert run_state(out, rlnn) == RESUME
    (paths.run_dir / "final.npz").write_bytes(b"")
    assert run_state(out, rlnn) == EVALUATE
    paths.result.parent.mkdir(parents=True)
    paths.result.write_text(json.dumps({"spec": rlnn.spec()}))
    assert run_state(out, rlnn) == DONE
    s = RunPaths(out, sb3)                                  # SB3: done, or from the start again
    s.run_dir.mkdir(parents=True)
    s.spec.write_text(json.dumps(sb3.spec()))
    (s.run_dir / "metrics.csv").write_text("kind,step\n")
    assert run_state(out, sb3) == FRESH
    changed = plan_runs(load_suite(tiny_suite(tmp_path, steps=900)), ("rlnn",))[0]
    with pytest.raises(SuiteError, match=r"records another run \(steps=600; the suite now asks steps=900\)"):
        run_state(out, changed)


def test_a_tiny_suite_runs_side_by_side_then_skips_what_is_done_and_resumes_the_rest(tmp_path, capsys):
    path, out = tiny_suite(tmp_path), tmp_path / "out"
    args = [str(path), "--out", str(out), "--jobs", "2"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.count("start ") == 2 and text.count("finish ") == 2 and "ETA" in text
    runs = plan_runs(load_suite(path), ("rlnn",))
    results = [json.loads(RunPaths(out, r).result.read_text()) for r in runs]
    for run, result in zip(runs, results, strict=True):
        assert result["spec"] == run.spec() and result["steps"] == 600 and result["eval_episodes"] == 20
        assert len(result["eval"]["returns"]) == 20 and result["eval"]["seed"] == 2**31
        assert result["config"]["net_arch"] == [32, 32] and result["config_sources"]["net_arch"] == "--set"
        assert result["wall_time_s"] > 0 and result["cpu"]
    assert (out / "report.md").is_file() and (out / "curves" / "dqn_CartPole-v1.png").is_file()
    assert json.loads((out / "report.json").read_text())["entries"][0]["libs"]["rlnn"]["seeds_run"] == 2

    stamps = [RunPaths(out, r).result.stat().st_mtime_ns for r in runs]
    assert main(args) == 0                                  # everything done: nothing runs
    assert "2 done; 0 env steps to train" in capsys.readouterr().out
    assert [RunPaths(out, r).result.stat().st_mtime_ns for r in runs] == stamps

    RunPaths(out, runs[0]).result.unlink()                  # trained, not evaluated
    (RunPaths(out, runs[1]).run_dir / "final.npz").unlink()  # stopped before the end
    RunPaths(out, runs[1]).result.unlink()
    assert [run_state(out, r) for r in runs] == [EVALUATE, RESUME]
    assert main(args) == 0
    assert "1 evaluate, 1 resume" in capsys.readouterr().out
    again = [json.loads(RunPaths(out, r).result.read_text()) for r in runs]
    assert [a["eval"]["returns"] for a in again] == [r["eval"]["returns"] for r in results]   # same policies
    assert "== " in RunPaths(out, runs[1]).log.read_text() and "--resume" in RunPaths(out, runs[1]).log.read_text()


def test_a_second_invocation_on_the_same_folder_is_refused(tmp_path, capsys):
    from experiments.benchmarks.suite.cli import lock_suite

    path, out = tiny_suite(tmp_path), tmp_path / "out"
    out.mkdir()
    with lock_suite(out):
        assert main([str(path), "--out", str(out)]) == 2
    assert "another invocation of the suite is running" in capsys.readouterr().err
    assert not (out / "runs").exists()


def test_ctrl_c_stops_the_runs_cleanly_leaving_them_to_resume(tmp_path):
    path, out = tiny_suite(tmp_path, steps=20_000, train_freq=1), tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.benchmarks.suite", str(path), "--out", str(out),
                             "--jobs", "1", "--only", "::0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = plan_runs(load_suite(path), ("rlnn",))[0]
    metrics = RunPaths(out, run).run_dir / "metrics.csv"
    deadline = time.monotonic() + 30
    while not metrics.is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)                                     # the run is under way
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout
    assert "interrupted: asking 1 run(s) to save and stop" in stdout and "run the same command again" in stdout
    assert run_state(out, run) == RESUME and not RunPaths(out, run).result.exists()


# -- the report ---------------------------------------------------------------------------------
def test_goal_status_counts_seeds_and_says_when_it_is_decided():
    goal = Goal(100.0, 4)
    assert goal_status(goal, [100, 120, 130, 150, 10], 5) == (4, "met")
    assert goal_status(goal, [100, 120, 10, 20, 150], 5) == (3, "not met")
    assert goal_status(goal, [100, 120, 10], 5) == (2, "open")          # two seeds to run could still meet it
    assert goal_status(goal, [99.9, 10], 5) == (0, "not met")            # three left cannot make four
    assert goal_status(None, [1.0], 5) == (None, "–")


def _fake_results(out: Path, suite, returns: dict[str, list[float]], wall: float = 10.0) -> None:
    for lib, values in returns.items():
        for run, value in zip(plan_runs(suite, (lib,)), values, strict=False):
            paths = RunPaths(out, run)
            paths.result.parent.mkdir(parents=True, exist_ok=True)
            paths.result.write_text(json.dumps({"spec": run.spec(), "lib": lib, "algo": run.entry.algo,
                                                "env_id": run.entry.env_id, "seed": run.seed, "steps": run.steps,
                                                "wall_time_s": wall * (2 if lib == "sb3" else 1),
                                                "steps_per_s": run.steps / wall, "eval": {"mean_return": value},
                                                "cpu": "test CPU"}))


def test_the_aggregate_has_per_seed_returns_mean_std_goal_counts_and_rlnn_against_sb3(tmp_path):
    path = tiny_suite(tmp_path)
    path.write_text(path.read_text().replace("seeds = 2\n", "seeds = 4\n", 1))
    suite = load_suite(path)
    out = tmp_path / "out"
    _fake_results(out, suite, {"rlnn": [10.0, 12.0, 8.0, 14.0], "sb3": [8.0, 11.0]})
    agg = aggregate(suite, out)
    entry = agg["entries"][0]
    rlnn, sb3 = entry["libs"]["rlnn"], entry["libs"]["sb3"]
    assert rlnn["returns"] == [10.0, 12.0, 8.0, 14.0] and rlnn["seeds"] == [0, 1, 2, 3]
    assert rlnn["mean"] == pytest.approx(11.0) and rlnn["std"] == pytest.approx(5 ** 0.5)   # population std
    assert (rlnn["meeting_goal"], rlnn["status"]) == (3, "met")          # goal: 9 on 2 seeds
    assert (sb3["seeds_run"], sb3["meeting_goal"], sb3["status"]) == (2, 1, "open")
    assert rlnn["median_wall_time_s"] == 10.0 and sb3["median_wall_time_s"] == 20.0
    c = entry["rlnn_vs_sb3"]
    assert c["difference"] == pytest.approx(1.5)
    assert c["two_standard_errors"] == pytest.approx(2 * (20 / 3 / 4 + 4.5 / 2) ** 0.5)   # sample variances
    assert c["verdict"] == "rlnn ≥ SB3" and c["sb3_over_rlnn_wall"] == pytest.approx(2.0)
    assert compare({**rlnn, "returns": [8.0, 10.0]}, sb3)["verdict"] == "within noise"     # -0.5 ± 3.6
    assert compare({**rlnn, "returns": [-100.0, -101.0]}, sb3)["verdict"] == "SB3 ahead"
    assert compare(rlnn, {**sb3, "returns": [9.0]}) is None
    assert agg["runs_done"] == {"rlnn": 4, "sb3": 2} and agg["cpus"] == ["test CPU"]
    md = (write_report(suite, out)[0]).read_text()
    assert ("| dqn | CartPole-v1 | 600 | rlnn | 4 of 4 | 10.0 / 12.0 / 8.0 / 14.0 | 11.0 ± 2.2 | ≥ 9 on 2 seeds "
            "| 3 of 4 | met |") in md
    assert "| +1.5 (± 4.0) | rlnn ≥ SB3 |" in md and "rlnn 4 of 4, SB3 2 of 4" in md


def test_learning_curves_are_drawn_from_the_eval_rows_of_every_seed(tmp_path, capsys):
    suite = load_suite(tiny_suite(tmp_path))
    out = tmp_path / "out"
    for i, run in enumerate(plan_runs(suite, LIBS)):
        paths = RunPaths(out, run)
        paths.run_dir.mkdir(parents=True)
        paths.spec.write_text(json.dumps(run.spec()))
        rows = [f"eval,{s},{s // 20},,,{s / 100 * (1 + i)},,{s / 10 + i},1.0" for s in (300, 600)]
        (paths.run_dir / "metrics.csv").write_text(
            "kind,step,episode,return,length,time,steps_per_s,eval_mean_return,eval_std_return\n"
            "episode,20,1,20,20,0.1,200,,\n" + "\n".join(rows) + "\n")
    written = write_report(suite, out)
    png = out / "curves" / "dqn_CartPole-v1.png"
    assert png in written and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "![dqn CartPole-v1](curves/dqn_CartPole-v1.png)" in (out / "report.md").read_text()
    assert draw_curves("none", {"rlnn": []}, tmp_path / "none.png") is None
    assert main([str(tmp_path / "tiny.toml"), "--out", str(out), "--report-only"]) == 0
    assert "wrote" in capsys.readouterr().out


def test_the_eta_uses_the_seconds_per_step_of_finished_runs():
    runs = plan_runs(load_suite("classic"), ("rlnn",))
    cartpole, pendulum = runs[0], next(r for r in runs if r.entry.env_id == "Pendulum-v1")
    known = [{"lib": "rlnn", "algo": "dqn", "env_id": "CartPole-v1", "steps": 50_000, "wall_time_s": 50.0}]
    assert eta_seconds([(cartpole, 50_000)], [], [], 2) is None
    assert eta_seconds([(cartpole, 50_000), (cartpole, 50_000)], [(cartpole, 50_000, 20.0)], known, 2) == 65.0
    assert eta_seconds([(pendulum, 20_000)], [], known, 1) == 20.0          # unknown task: the overall rate


# -- Stable-Baselines3 --------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_SB3, reason="needs the 'bench' extra")
def test_an_sb3_run_writes_rlnn_shaped_metrics_and_the_same_evaluation(tmp_path, capsys):
    from agents.loop import METRIC_COLUMNS
    from experiments.plots import read_metrics

    path, out = tiny_suite(tmp_path), tmp_path / "out"
    assert main([str(path), "--out", str(out), "--lib", "sb3", "--only", "::1"]) == 0
    run = plan_runs(load_suite(path), ("sb3",))[1]
    result = json.loads(RunPaths(out, run).result.read_text())
    assert result["lib"] == "sb3" and len(result["eval"]["returns"]) == 20 and result["eval"]["seed"] == 2**31
    assert result["config"]["learning_rate"] == 0.0023 and result["sb3_unused"] == []   # the tuned file's, via SB3
    metrics = RunPaths(out, run).run_dir / "metrics.csv"
    assert metrics.read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)
    assert [int(r["step"]) for r in read_metrics(metrics.parent)["eval"]] == [300, 600]


@pytest.mark.skipif(not HAS_SB3, reason="needs the 'bench' extra")
def test_sb3_takes_what_it_can_of_rlnns_hyperparameters_and_says_what_not():
    from experiments.benchmarks.sb3_mapping import sb3_arguments

    kwargs, unused = sb3_arguments("dqn", {"learning_rate": 1e-3, "learning_rate_schedule": "linear", "n_step": 3,
                                           "double_q": True, "net_arch": [64], "activation": "tanh"}, 0)
    assert kwargs["learning_rate"](1.0) == 1e-3 and kwargs["learning_rate"](0.0) == 0.0 and kwargs["n_steps"] == 3
    assert kwargs["policy_kwargs"]["net_arch"] == [64] and kwargs["policy_kwargs"]["activation_fn"].__name__ == "Tanh"
    assert unused == ["double_q"]
    kwargs, unused = sb3_arguments("ddpg", {"target_noise": 0.0, "n_critics": 1, "action_noise": 0.1}, 2)
    assert kwargs["target_policy_noise"] == 0.0 and kwargs["policy_kwargs"] == {"n_critics": 1}
    assert list(kwargs["action_noise"]._sigma) == [0.1, 0.1] and unused == []
    assert sb3_arguments("sac", {"target_entropy": None, "target_noise": 0.2}, 1) == ({"target_entropy": "auto"},
                                                                                      ["target_noise"])


def test_sb3_missing_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    from experiments.benchmarks.suite import cli

    monkeypatch.setattr(cli, "sb3_installed", lambda: False)
    assert main(["classic", "--lib", "both", "--dry-run", "--out", str(tmp_path)]) == 2
    assert "pip install -e '.[bench]'" in capsys.readouterr().err
    assert suite_spec.shipped() == ["classic", "mujoco", "ppo"]
