"""experiments.results reads run folders as untrusted (issue 17): run.json's env id must be a
plain registered id, and a bad folder is one line on stderr, not a traceback."""

from __future__ import annotations

import json
import re
import sys

import gymnasium as gym
import pytest

from agents import DQN
from agents.checkpoint import save_agent
from experiments import results


def _run(folder, **changes):
    env = gym.make("CartPole-v1")
    agent = DQN(env.observation_space, env.action_space, {"net_arch": [8]})
    folder.mkdir(parents=True, exist_ok=True)
    save_agent(agent, folder / "final.npz", {"env_id": "CartPole-v1", "env_kwargs": {}, "step": 100, "seed": 3})
    info = {"algo": "dqn", "env_id": "CartPole-v1", "env_kwargs": {}, "seed": 3, "total_steps": 100, **changes}
    (folder / "run.json").write_text(json.dumps(info))
    (folder / "metrics.csv").write_text("step,time\n50,1.5\n100,2.5\n")
    return folder


def test_a_run_is_evaluated(tmp_path):
    row = results.evaluate_run(_run(tmp_path / "run"), episodes=2)
    assert row["env_id"] == "CartPole-v1" and row["steps"] == 100 and row["wall_time_s"] == 2.5
    assert len(row["returns"]) == 2
    assert "CartPole-v1 | dqn | 100 |" in results.summarise([row], 2)


def test_an_env_id_naming_a_module_is_refused_and_nothing_imported(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = _run(tmp_path / "run", env_id="evilmod:CartPole-v1")
    with pytest.raises(ValueError, match="not a plain Gymnasium environment id"):
        results.evaluate_run(run, episodes=1)
    assert "evilmod" not in sys.modules


@pytest.mark.parametrize("breakage, words", [
    (lambda run: (run / "run.json").unlink(), "cannot read"),
    (lambda run: (run / "run.json").write_text("{not json"), "not valid JSON"),
    (lambda run: (run / "run.json").write_text("[1, 2]"), "JSON object"),
    (lambda run: (run / "run.json").write_text(json.dumps({"env_id": "\x1b[2JCartPole-v1"})), r"\\x1b\[2J"),
    (lambda run: (run / "run.json").write_text(json.dumps({"env_id": "NoSuch-v0"})), "not registered"),
    (lambda run: (run / "run.json").write_text(json.dumps({"env_id": "CartPole-v1", "algo": "dqn", "seed": "3",
                                                           "total_steps": 100})), "'seed' as a int"),
    (lambda run: (run / "metrics.csv").unlink(), "metrics.csv"),
    (lambda run: (run / "final.npz").write_bytes(b"junk"), "final.npz"),
])
def test_a_broken_run_folder_is_one_line_on_stderr(tmp_path, capsys, breakage, words):
    run = _run(tmp_path / "run")
    breakage(run)
    assert results.main([str(run), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "\x1b" not in err
    assert re.search(words, err), err
