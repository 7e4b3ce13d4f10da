"""Nothing is lost or mixed: the run folder's lock, interruptions by signal and by kill -9,
partial rows, damaged folders, and a loss that turns NaN."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import DQN, OffPolicyTrainer, RunSettings
from agents.loop import TrainingDiverged
from agents.run_folder import RunFolder, RunFolderError

CARTPOLE = gym.make("CartPole-v1")
CONFIG = {"net_arch": [16], "learning_starts": 100, "batch_size": 16, "target_update_interval": 100}


def trainer(run_dir: Path, steps: int = 600, **settings) -> OffPolicyTrainer:
    agent = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, CONFIG, seed=1)
    return OffPolicyTrainer(agent, "CartPole-v1", RunSettings(steps, seed=1, run_dir=run_dir, progress=False,
                                                              checkpoint_freq=100, lanes=1, **settings))


def parameters(run_dir: Path) -> dict[str, np.ndarray]:
    from agents.checkpoint import load_agent
    agent, _ = load_agent(run_dir / "final.npz")
    return agent.state_dict()[0]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_second_run_cannot_write_into_a_folder_in_use(tmp_path):
    first = RunFolder(tmp_path / "run")
    first.claim(fresh=True)
    with pytest.raises(RunFolderError, match="another run is writing to"):
        RunFolder(tmp_path / "run").claim(fresh=True)
    first.release()
    RunFolder(tmp_path / "run").claim(fresh=True)    # free again


def test_a_fresh_run_refuses_a_folder_with_a_run_unless_told_to_overwrite(tmp_path):
    trainer(tmp_path / "run", 300).run()
    with pytest.raises(RunFolderError, match="already holds a run; continue it with --resume"):
        trainer(tmp_path / "run", 300).run()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "metrics.csv").write_text("kind,step\n")    # a run without run.json
    with pytest.raises(RunFolderError, match="already holds a run"):
        trainer(tmp_path / "other", 300).run()
    trainer(tmp_path / "run", 300, overwrite=True).run()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    steps = [int(line.split(",")[1]) for line in rows[1:]]
    assert steps == sorted(steps)                  # one run's rows, not two interleaved
    with pytest.raises(RunFolderError, match="is a file"):
        trainer(tmp_path / "run" / "run.json", 300).run()


def test_a_run_is_resumable_from_its_first_step(tmp_path):
    t = trainer(tmp_path / "run", 300)
    t.run(stop_at=0)
    assert (tmp_path / "run" / "checkpoints" / "resume.npz").is_file()
    OffPolicyTrainer.resume(tmp_path / "run", progress=False).run()
    trainer(tmp_path / "whole", 300).run()
    assert_same(parameters(tmp_path / "run"), parameters(tmp_path / "whole"))


def test_resume_repairs_a_partial_last_row_and_drops_rows_past_the_checkpoint(tmp_path):
    t = trainer(tmp_path / "run")
    t.run(stop_at=350)
    t.save_checkpoints(periodic=False)          # the resume point at 350 ...
    t.run(stop_at=420)                          # ... while rows went on to 420, then a disk filled mid-row
    with (tmp_path / "run" / "metrics.csv").open("a") as f:
        f.write("episode,43")
    OffPolicyTrainer.resume(tmp_path / "run", progress=False).run()
    trainer(tmp_path / "whole").run()
    assert (tmp_path / "run" / "metrics.csv").read_text() .count("\n") == \
        (tmp_path / "whole" / "metrics.csv").read_text().count("\n")
    assert_same(parameters(tmp_path / "run"), parameters(tmp_path / "whole"))


def test_every_evaluation_is_recorded_in_full_and_resume_keeps_the_record_exact(tmp_path):
    t = trainer(tmp_path / "run", eval_freq=200, eval_episodes=3)
    t.run(stop_at=350)
    t.save_checkpoints(periodic=False)          # the resume point at 350, after the evaluation at 200 ...
    t.run(stop_at=420)                          # ... then the one at 400, and a line cut by a kill
    with (tmp_path / "run" / "evals.jsonl").open("a") as f:
        f.write('{"step": 6')
    OffPolicyTrainer.resume(tmp_path / "run", progress=False).run()
    trainer(tmp_path / "whole", eval_freq=200, eval_episodes=3).run()
    records = RunFolder(tmp_path / "run").read_evals()
    whole = RunFolder(tmp_path / "whole").read_evals()
    assert [r["step"] for r in records] == [r["step"] for r in whole] == [200, 400, 600]
    for mine, theirs in zip(records, whole):
        assert mine["returns"] == theirs["returns"] and len(mine["returns"]) == 3
        assert mine["mean_return"] == pytest.approx(np.mean(mine["returns"]))
        assert mine["eval_seconds"] > 0 and mine["time"] >= 0
    rows = [line.split(",") for line in (tmp_path / "whole" / "metrics.csv").read_text().splitlines()
            if line.startswith("eval,")]
    assert [float(r[7]) for r in rows] == pytest.approx([r["mean_return"] for r in whole], rel=1e-5)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: None, "no run folder at"),
    (lambda d: d.mkdir(), "has no run.json"),
    (lambda d: (d.mkdir(), (d / "run.json").write_text("{not json")), "cannot be read"),
    (lambda d: (d.mkdir(), (d / "run.json").write_text("[1, 2]")), "does not hold a JSON object"),
    (lambda d: (d.mkdir(), (d / "run.json").write_text("{}")), "has no checkpoints/resume.npz"),
])
def test_a_folder_that_cannot_be_resumed_says_why_in_one_line(tmp_path, damage, message):
    damage(tmp_path / "run")
    with pytest.raises(RunFolderError, match=message) as info:
        OffPolicyTrainer.resume(tmp_path / "run")
    assert "\n" not in str(info.value)


def test_a_truncated_or_mismatched_resume_checkpoint_says_why_in_one_line(tmp_path):
    t = trainer(tmp_path / "run", 300)
    t.run(stop_at=150)
    resume = tmp_path / "run" / "checkpoints" / "resume.npz"
    data = resume.read_bytes()
    resume.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFolderError, match="cannot be read") as info:
        OffPolicyTrainer.resume(tmp_path / "run")
    assert "\n" not in str(info.value)
    resume.write_bytes(data)
    info_path = tmp_path / "run" / "run.json"
    run_info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**run_info, "algo": "sac"}))
    with pytest.raises(RunFolderError, match="records 'sac' but the resume checkpoint holds 'dqn'"):
        OffPolicyTrainer.resume(tmp_path / "run")
    info_path.write_text(json.dumps({**run_info, "env_id": "evilmod:CartPole-v1"}))
    with pytest.raises(ValueError, match="evilmod"):
        OffPolicyTrainer.resume(tmp_path / "run")
    assert "evilmod" not in sys.modules


def test_resume_can_extend_a_run(tmp_path):
    trainer(tmp_path / "run", 300).run()
    t = OffPolicyTrainer.resume(tmp_path / "run", progress=False, total_steps=600)
    assert t.total_steps == 600 and t.agent.total_steps == 600
    t.run()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["total_steps"] == 600
    with pytest.raises(RunFolderError, match="already at step 600"):
        OffPolicyTrainer.resume(tmp_path / "run", total_steps=100)


def test_a_loss_that_turns_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    t = trainer(tmp_path / "run")
    t.run(stop_at=250)
    t.save_checkpoints(periodic=False)
    good = (tmp_path / "run" / "checkpoints" / "resume.npz").read_bytes()
    t.agent.q.parameters()[0].value[...] = np.nan        # what a diverging learning rate leads to
    with pytest.raises(TrainingDiverged, match="training diverged at step 252: loss, q_mean became nan") as info:
        t.run()
    assert "\n" not in str(info.value) and "resume.npz" in str(info.value)
    assert (tmp_path / "run" / "checkpoints" / "resume.npz").read_bytes() == good
    assert not (tmp_path / "run" / "final.npz").exists()


SCRIPT = textwrap.dedent("""
    import sys, gymnasium as gym
    from agents import DQN, OffPolicyTrainer, RunSettings
    from pathlib import Path
    run_dir = Path(sys.argv[1])
    if (run_dir / "run.json").exists():
        trainer = OffPolicyTrainer.resume(run_dir, progress=False)
    else:
        env = gym.make("CartPole-v1")
        agent = DQN(env.observation_space, env.action_space, %r, seed=1)
        trainer = OffPolicyTrainer(agent, "CartPole-v1", RunSettings(int(sys.argv[2]), seed=1, run_dir=run_dir,
                                   progress=False, checkpoint_freq=100, lanes=1))
    print("ready", flush=True)
    trainer.run()
""" % CONFIG)


def start(run_dir: Path, steps: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), str(steps)], stdout=subprocess.PIPE,
                               cwd=Path(__file__).resolve().parents[2], text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_and_the_resumed_run_equals_an_uninterrupted_one(tmp_path, signum):
    process = start(tmp_path / "run", 6000)
    deadline = time.monotonic() + 60           # signal once the run is under way (not a fixed sleep,
    while not (tmp_path / "run" / "checkpoints" / "step_100.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.005)                      # which a fast machine outruns)
    process.send_signal(signum)
    assert process.wait(timeout=60) == 0
    resume = json.loads(subprocess.run([sys.executable, "-c", "import rlnn,sys,json; "
                                        "print(json.dumps(rlnn.load_arrays(sys.argv[1])[1]['trainer']['step']))",
                                        str(tmp_path / "run" / "checkpoints" / "resume.npz")],
                                       capture_output=True, text=True, check=True).stdout)
    assert 0 < resume < 6000                             # it stopped part-way, and saved where
    assert start(tmp_path / "run", 6000).wait(timeout=120) == 0
    trainer(tmp_path / "whole", 6000).run()
    assert_same(parameters(tmp_path / "run"), parameters(tmp_path / "whole"))


def test_kill_9_at_random_moments_always_leaves_a_run_that_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    for _ in range(6):
        process = start(tmp_path / "run", 2500)
        time.sleep(float(rng.uniform(0.0, 0.6)))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert start(tmp_path / "run", 2500).wait(timeout=120) == 0
    trainer(tmp_path / "whole", 2500).run()
    assert_same(parameters(tmp_path / "run"), parameters(tmp_path / "whole"))
    assert not list((tmp_path / "run").rglob("*.tmp"))
