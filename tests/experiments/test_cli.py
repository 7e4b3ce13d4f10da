import json
import sys

import gymnasium
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
    assert err.count("learning_starts=100 >= 5 total steps, so no update will be made") == 1
    assert "rlnn: no curve.png" in err and (tmp_path / "r" / "final.npz").is_file()


def test_env_kwargs_are_typed_recorded_and_reused_by_eval_render_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--env-kwargs", "max_episode_steps=20", "sutton_barto_reward=true",
                 "--steps", "200", "--out", str(out), "--quiet", "--no-gif", *TINY]) == 0
    err = capsys.readouterr().err
    assert "settings from --env-kwargs: env_kwargs.max_episode_steps=20, env_kwargs.sutton_barto_reward=true" in err
    info = json.loads((out / "run.json").read_text())
    assert info["env_kwargs"] == {"max_episode_steps": 20, "sutton_barto_reward": True}   # typed like --set
    assert info["config_sources"]["env_kwargs.max_episode_steps"] == "--env-kwargs"
    def lengths(run: str) -> list[int]:
        rows = (tmp_path / run / "metrics.csv").read_text().splitlines()[1:]
        return [int(r.split(",")[4]) for r in rows if r.startswith("episode,")]
    assert lengths("run") and max(lengths("run")) <= 20 and 20 in lengths("run")
    assert main(["eval", str(out), "--episodes", "3", "--json"]) == 0
    assert max(json.loads(capsys.readouterr().out)["lengths"]) <= 20       # the recorded kwargs
    assert main(["eval", str(out), "--episodes", "1", "--json", "--env-kwargs", "max_episode_steps=7"]) == 0
    assert json.loads(capsys.readouterr().out)["lengths"] == [7]            # --env-kwargs over them
    assert main(["render", str(out), "--out", str(tmp_path / "ep.gif")]) == 0
    assert "frames" in capsys.readouterr().out
    from PIL import Image
    with Image.open(tmp_path / "ep.gif") as im:
        assert im.n_frames <= 11   # every second frame of at most 20 steps
    assert main(["train", "--resume", str(out), "--steps", "400", "--quiet", "--no-gif"]) == 0
    assert len(lengths("run")) > 10 and max(lengths("run")) <= 20


def test_a_tuned_file_may_hold_env_kwargs(tmp_path, capsys, monkeypatch):
    import experiments.configs as configs
    (tmp_path / "dqn").mkdir()
    (tmp_path / "dqn" / "CartPole-v1.json").write_text(json.dumps(
        {"total_steps": 150, "env_kwargs": {"max_episode_steps": 30}, "hyperparameters": {"gamma": 0.9}}))
    monkeypatch.setattr(configs, "CONFIG_DIR", tmp_path)
    out = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--out", str(out), "--quiet", "--no-gif", *TINY]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["env_kwargs"] == {"max_episode_steps": 30} and info["total_steps"] == 150
    assert info["config"]["gamma"] == 0.9
    label = info["config_sources"]["env_kwargs.max_episode_steps"]
    assert label.endswith("dqn/CartPole-v1.json") and info["config_layers"] == [label, "--set"]
    assert f"settings from {label}: total_steps=150, env_kwargs.max_episode_steps=30, gamma=0.9" in \
        capsys.readouterr().err


def test_help_names_the_new_flags_and_n_envs(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--env-kwargs KEY=VALUE [KEY=VALUE ...]" in text and "--set n_envs=4" in text and "--tensorboard" in text


def test_tensorboard_flag_writes_event_files(tmp_path):
    """Waits on RunSettings.tensorboard (the trainer's TensorBoard sink)."""
    out = tmp_path / "run"
    assert main(["train", "dqn", "CartPole-v1", "--steps", "200", "--eval-freq", "100", "--tensorboard",
                 "--out", str(out), "--quiet", "--no-gif", *TINY]) == 0
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


CORRIDOR = '''
import gymnasium as gym
import numpy as np


class Corridor(gym.Env):
    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, length=5):
        self.length = length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.pos = max(self.pos + (1 if action == 1 else -1), 0)
        done = self.pos == self.length
        return np.array([self.pos / self.length], np.float32), float(done), done, False, {}


gym.register("CorridorRlnn-v0", entry_point=Corridor, max_episode_steps=30)
'''


def test_a_module_env_id_imports_the_module_that_registers_it(tmp_path, capsys, monkeypatch):
    (tmp_path / "corridor_rlnn.py").write_text(CORRIDOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    assert main(["train", "dqn", "corridor_rlnn:CorridorRlnn-v0", "--env-kwargs", "length=3", "--steps", "200",
                 "--out", str(out), "--quiet", "--no-gif", *TINY]) == 0
    info = json.loads((out / "run.json").read_text())
    assert (info["env_id"], info["env_kwargs"]) == ("CorridorRlnn-v0", {"length": 3})   # the plain id
    capsys.readouterr()
    # In this process the module is imported; a fresh one must import it again, which only an id
    # on the command line does (an id read from a file imports nothing).
    registry = gymnasium.envs.registration.registry

    def fresh_process():
        monkeypatch.delitem(registry, "CorridorRlnn-v0")
        monkeypatch.delitem(sys.modules, "corridor_rlnn")
    fresh_process()
    assert main(["eval", str(out)]) == 2
    assert "'CorridorRlnn-v0' is not registered with Gymnasium" in capsys.readouterr().err
    assert main(["eval", str(out), "--episodes", "2", "--json", "--env", "corridor_rlnn:CorridorRlnn-v0"]) == 0
    assert all(length <= 30 for length in json.loads(capsys.readouterr().out)["lengths"])
    fresh_process()
    assert main(["train", "--resume", str(out), "--steps", "300", "--quiet", "--no-gif"]) == 2
    assert "give the id on the command line as module:id" in capsys.readouterr().err
    assert main(["train", "dqn", "corridor_rlnn:CorridorRlnn-v0", "--resume", str(out), "--steps", "300",
                 "--quiet", "--no-gif"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["steps"] == 300


def test_env_kwargs_reach_every_trial_of_a_seeds_run():
    from experiments.cli import _layers, build_parser
    from experiments.sweep import seeds_spec

    args = build_parser().parse_args(["train", "dqn", "CartPole-v1", "--seeds", "0-1", "--env-kwargs",
                                      "max_episode_steps=20", "--set", "gamma=0.9"])
    spec = seeds_spec("dqn", "CartPole-v1", [0, 1], _layers(args))
    assert spec.env_kwargs == {"max_episode_steps": 20} and spec.config["gamma"] == 0.9
    assert spec.config_sources["env_kwargs.max_episode_steps"] == "--env-kwargs"
