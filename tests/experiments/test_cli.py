import json

import numpy as np
import pytest

import rlnn
from experiments.cli import main

TINY = ["--set", "learning_starts=100", "--set", "train_freq=4", "--set", "gradient_steps=1",
        "--set", "net_arch=[16,16]", "--set", "buffer_size=2000", "--set", "target_update_interval=50"]


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
    with pytest.raises(SystemExit):
        main(["render", str(run), "--out", str(tmp_path / "ep.avi")])
    assert "must end in .gif or .mp4" in capsys.readouterr().err


def _trainer(run_dir, seed=2):
    import gymnasium as gym

    from agents import DQN, OffPolicyTrainer
    env = gym.make("CartPole-v1")
    config = {"learning_starts": 100, "train_freq": 4, "gradient_steps": 1, "net_arch": [16, 16],
              "buffer_size": 2000, "target_update_interval": 50}
    agent = DQN(env.observation_space, env.action_space, config, seed=seed)
    return OffPolicyTrainer(agent, "CartPole-v1", 900, seed, run_dir=run_dir, checkpoint_freq=300, progress=False)


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


@pytest.mark.parametrize("argv, message", [
    (["train", "dqm", "CartPole-v1"], "unknown algorithm 'dqm'; accepted: "),
    (["train", "dqn", "CartPole-v1", "--set", "gama=0.9"], "unknown config key(s) ['gama']"),
    (["train", "dqn", "CartPole-v1", "--set", "batch_size=big"], "config key 'batch_size' expects int"),
    (["train", "dqn", "NoSuchEnv-v9"], "cannot make environment 'NoSuchEnv-v9'"),
    (["train", "dqn", "Pendulum-v1"], "DQN needs a Discrete action space"),
    (["eval", "/nonexistent/run"], "no such checkpoint or run folder"),
    (["train", "dqn", "CartPole-v1", "--seeds", "0-1", "--lanes", "2"], "--lanes does not combine with --seeds"),
])
def test_bad_arguments_give_one_line_errors(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([*argv, *(["--out", str(tmp_path / "x")] if argv[0] == "train" else [])])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
