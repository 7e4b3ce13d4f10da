"""PPO and A2C through the whole run folder, as the off-policy agents go through it: ``rlnn train``,
eval, render and ``--resume``; the Python API; and the tuned configs of the zoo."""

from __future__ import annotations

import json

import pytest

from agents.config import config_from_dict
from agents.ppo import PPO
from experiments.cli import main
from experiments.configs import CONFIG_DIR, load_config_file

SMALL = ["--set", "n_steps=16", "--set", "n_epochs=2", "--set", "net_arch=[16]"]


def test_train_eval_render_and_resume_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "ppo"
    assert main(["train", "ppo", "CartPole-v1", "--steps", "1200", "--seed", "1", "--out", str(out), "--quiet",
                 "--no-gif", "--eval-freq", "400", *SMALL]) == 0
    info = json.loads((out / "run.json").read_text())
    assert info["algo"] == "ppo" and info["lanes"] == 1 and info["config"]["n_envs"] == 8   # the zoo's file applies
    for name in ("final.npz", "best.npz", "policy.npz", "metrics.csv", "checkpoints/resume.npz", "curve.png"):
        assert (out / name).exists(), name
    header = (out / "metrics.csv").read_text().splitlines()[0]
    assert "policy_loss" in header and "approx_kl" in header
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_return"] > 0
    assert main(["render", str(out / "policy.npz"), "--out", str(tmp_path / "ep.gif"), "--max-steps", "20"]) == 0
    assert main(["train", "--resume", str(out), "--steps", "1600", "--quiet", "--no-gif"]) == 0
    assert json.loads((out / "run.json").read_text())["total_steps"] == 1600
    assert main(["train", "ppo", "CartPole-v1", "--steps", "100", "--out", str(tmp_path / "x"), "--lanes", "2",
                 "--set", "n_envs=1", "--quiet"]) == 2
    assert "lanes=2 splits the sub-envs over processes, but n_envs=1" in capsys.readouterr().err


def test_the_python_api_trains_resumes_and_loads_a2c(tmp_path):
    from experiments.api import evaluate, load, make_trainer, resume, train

    run = tmp_path / "a2c"
    agent = train("a2c", "CartPole-v1", steps=800, seed=2, run_dir=run, eval_freq=400, verbose=False,
                  config={"net_arch": [16]})
    assert agent.algo == "a2c" and agent.config.n_envs == 8 and agent.n_updates == 800 // 40
    again = resume(run, steps=1200, verbose=False)
    assert again.n_updates == 1200 // 40
    assert evaluate(load(run), "CartPole-v1", episodes=2).mean_return > 0
    trainer = make_trainer("ppo", "Pendulum-v1", steps=300, verbose=False, eval_freq=0,
                           config={"n_steps": 64, "n_envs": 2, "batch_size": 32, "n_epochs": 1})
    assert type(trainer).__name__ == "OnPolicyTrainer" and trainer.run()["steps"] == 300


@pytest.mark.parametrize("path", sorted([*CONFIG_DIR.glob("ppo/*.json"), *CONFIG_DIR.glob("a2c/*.json")]),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_tuned_configs_are_valid_and_say_where_they_come_from(path):
    import agents

    data = load_config_file(path)
    assert data["algo"] == path.parent.name and data["env_id"] == path.stem.replace("__", "/")
    assert "rl-baselines3-zoo" in data["source"]
    config = config_from_dict(agents.ALGORITHMS[data["algo"]].Config, data["hyperparameters"])
    assert isinstance(config, PPO.Config)
