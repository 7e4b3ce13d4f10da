import json

import numpy as np
import pytest

import rlnn
from experiments.cli import main

TINY = ["--set", "learning_starts=100", "--set", "train_freq=4", "--set", "gradient_steps=1",
        "--set", "net_arch=[16,16]", "--set", "buffer_size=2000", "--set", "target_update_interval=50",
        "--blas-threads", "1", "--lanes", "1"]


def test_train_then_eval_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--steps", "600", "--seed", "1", "--out", str(out), "--quiet",
                 "--eval-freq", "300", *TINY]) == 0
    for name in ("run.json", "metrics.csv", "final.npz", "best.npz", "curve.png", "episode.gif",
                 "checkpoints/resume.npz"):
        assert (out / name).is_file(), name
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"kind", "step", "return", "eval_mean_return"} <= set(header)
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "3", "--seed", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"mean_return", "std_return", "returns", "infos", "info_means"} <= set(result)
    assert len(result["returns"]) == 3 and result["mean_return"] == pytest.approx(np.mean(result["returns"]))


def test_render_plot_and_results_table(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", "dqn", "CartPole-v1", "--steps", "300", "--out", str(run), "--quiet", "--no-gif", *TINY])
    from experiments.results import main as results_main
    capsys.readouterr()
    assert results_main([str(run), "--episodes", "2", "--json", str(tmp_path / "r.json")]) == 0
    table = capsys.readouterr().out
    assert "| CartPole-v1 | dqn | 300 | 0 |" in table
    assert json.loads((tmp_path / "r.json").read_text())[0]["returns"]
    assert main(["render", str(run), "--out", str(tmp_path / "ep.gif"), "--max-steps", "40"]) == 0
    from PIL import Image
    with Image.open(tmp_path / "ep.gif") as im:
        assert im.n_frames > 5
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert main(["render", str(run), "--out", str(tmp_path / "ep.avi")]) == 2
    assert "must end in .gif or .mp4" in capsys.readouterr().err


def _trainer(run_dir, seed=2):
    import gymnasium as gym

    from agents import DQN, OffPolicyTrainer, RunSettings
    env = gym.make("CartPole-v1")
    config = {"learning_starts": 100, "train_freq": 4, "gradient_steps": 1, "net_arch": [16, 16],
              "buffer_size": 2000, "target_update_interval": 50}
    agent = DQN(env.observation_space, env.action_space, config, seed=seed)
    settings = RunSettings(total_steps=900, seed=seed, run_dir=run_dir, checkpoint_freq=300, progress=False,
                           blas_threads=1, lanes=1)
    return OffPolicyTrainer(agent, "CartPole-v1", settings)


def test_resumed_run_ends_with_the_same_parameters(tmp_path):
    _trainer(tmp_path / "whole").run()
    cut = _trainer(tmp_path / "cut")
    cut.run(stop_at=450)  # "interrupted" mid-episode; the last resumable checkpoint is from step 300
    assert cut.episode_length > 0 and cut.step == 450
    assert main(["train", "--resume", str(tmp_path / "cut"), "--quiet", "--no-gif"]) == 0
    whole = rlnn.load_arrays(tmp_path / "whole" / "final.npz")[0]
    resumed = rlnn.load_arrays(tmp_path / "cut" / "final.npz")[0]
    assert set(whole) == set(resumed)
    for key in whole:
        np.testing.assert_array_equal(whole[key], resumed[key], err_msg=key)
    # the metrics log has no duplicated rows from the discarded steps 301-450
    def episodes(run: str) -> list[list[str]]:  # kind, step, episode, return, length (not timings)
        return [line.split(",")[:5] for line in (tmp_path / run / "metrics.csv").read_text().splitlines()]
    assert episodes("cut") == episodes("whole")


def test_the_start_of_a_run_says_where_each_setting_came_from(tmp_path, capsys):
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"hyperparameters": {"batch_size": 32}}))
    out = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--config", str(mine), "--steps", "200", "--out", str(out),
                 "--quiet", "--no-gif", *TINY]) == 0
    err = capsys.readouterr().err
    tuned = "settings from experiments/configs/dqn/CartPole-v1.json: "
    assert tuned in err and "learning_rate=0.0023" in err.split(tuned)[1].splitlines()[0]   # tuned file kept
    assert f"settings from --config {mine}: batch_size=32" in err
    assert "settings from --steps: total_steps=200" in err and "settings from default: " in err
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["batch_size"] == 32 and info["config"]["learning_rate"] == 0.0023
    assert info["config_sources"]["batch_size"] == f"--config {mine}" and info["lanes"] == 1
    assert info["command"].startswith("rlnn train dqn CartPole-v1 --config")
    # --no-tuned: the algorithm's defaults under --config
    assert main(["train", "dqn", "CartPole-v1", "--no-tuned", "--steps", "200", "--out", str(tmp_path / "bare"),
                 "--quiet", "--no-gif", *TINY]) == 0
    from agents import DQNConfig
    assert json.loads((tmp_path / "bare" / "run.json").read_text())["config"]["learning_rate"] == \
        DQNConfig().learning_rate != 0.0023
    assert "experiments/configs" not in capsys.readouterr().err


def test_overwrite_replaces_an_old_run_and_resume_extends_one(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "dqn", "CartPole-v1", "--steps", "200", "--out", str(out), "--quiet", "--no-gif", *TINY]
    assert main(argv) == 0
    stale = out / "checkpoints" / "step_999.npz"
    stale.write_bytes(b"old")
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--resume {out}" in err and "--overwrite" in err
    assert main([*argv, "--overwrite"]) == 0
    assert not stale.exists() and (out / "final.npz").is_file()
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("kind,") and sum(r.startswith("kind,") for r in rows) == 1   # one run's rows
    assert main(["train", "--resume", str(out), "--steps", "300", "--quiet", "--no-gif"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 300


def test_a_run_too_short_to_learn_is_warned_about_and_still_ends_cleanly(tmp_path, capsys):
    assert main(["train", "dqn", "CartPole-v1", "--steps", "5", "--out", str(tmp_path / "r"), "--quiet",
                 "--no-gif", *TINY]) == 0   # shorter than one episode: no metrics, no curve
    err = capsys.readouterr().err
    assert "rlnn: warning: learning_starts (100) is not below the run's 5 steps" in err
    assert "rlnn: no curve.png" in err and (tmp_path / "r" / "final.npz").is_file()
