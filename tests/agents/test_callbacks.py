"""Callbacks: hooks that stop a run cleanly, a custom metric in metrics.csv, the on_eval keyword."""

from __future__ import annotations

import csv

import gymnasium as gym
import pytest

from agents import DQN, OffPolicyTrainer, RunSettings
from agents.callbacks import Callback, Callbacks, LogMetric, StopAfterTime, StopOnReward

CARTPOLE = gym.make("CartPole-v1")
TINY = {"net_arch": [16], "learning_starts": 50, "batch_size": 16, "target_update_interval": 50}


def trainer(tmp_path=None, steps=400, callbacks=(), **kw) -> OffPolicyTrainer:
    agent = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, TINY, seed=1)
    return OffPolicyTrainer(agent, "CartPole-v1", RunSettings(steps, seed=1, progress=False, lanes=1, run_dir=tmp_path,
                                                              **kw), callbacks=callbacks)


def rows(run_dir) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_stop_on_reward_ends_the_run_as_a_finished_one_at_the_evaluation_that_reaches_it(tmp_path):
    t = trainer(tmp_path, eval_freq=100, eval_episodes=1, callbacks=[StopOnReward(0.0)])
    summary = t.run()
    assert t.step == 100 and not summary["interrupted"]
    assert summary["stopped"].startswith("evaluation mean return") and "StopOnReward" in summary["stopped"]
    assert (tmp_path / "final.npz").is_file() and (tmp_path / "policy.npz").is_file()
    unreachable = trainer(eval_freq=100, eval_episodes=1, callbacks=[StopOnReward(1e9)])
    assert unreachable.run()["stopped"] is None and unreachable.step == 400


def test_stop_after_time_and_hooks_that_return_false_or_call_stop(tmp_path):
    t = trainer(callbacks=[StopAfterTime(1e-9)])
    assert "wall-time budget" in t.run()["stopped"] and t.step == 1

    class FirstEpisodeOnly(Callback):
        def on_episode_end(self, trainer, episode):
            assert set(episode) == {"episode", "step", "return", "length", "env"} and episode["env"] == 0
            return False

    t = trainer(callbacks=[FirstEpisodeOnly()])
    assert t.run()["stopped"] == "FirstEpisodeOnly.on_episode_end returned False" and t.episode == 1

    class Enough(Callback):
        def on_step(self, trainer):
            if trainer.step == 123:
                trainer.stop("enough")

    t = trainer(tmp_path, callbacks=[Enough()])
    assert t.run()["stopped"] == "enough" and t.step == 123 and (tmp_path / "final.npz").is_file()


def test_log_metric_writes_its_column_on_every_episode_row(tmp_path):
    twice_step = LogMetric("twice_step", lambda t: 2 * t.step)
    trainer(tmp_path, 300, eval_freq=150, eval_episodes=1, callbacks=[twice_step]).run()
    table = rows(tmp_path)
    assert "twice_step" in table[0]
    episodes = [r for r in table if r["kind"] == "episode"]
    assert episodes and all(int(r["twice_step"]) == 2 * int(r["step"]) for r in episodes)
    assert all(r["twice_step"] == "" for r in table if r["kind"] == "eval")


def test_a_resumed_run_keeps_the_columns_of_its_metrics_file(tmp_path):
    t = trainer(tmp_path, 300, callbacks=[LogMetric("a", lambda t: 1.0)])
    t.run(stop_at=150)
    t.save_checkpoints(periodic=False)
    lines = []
    resumed = OffPolicyTrainer.resume(tmp_path, progress=False, log=lines.append,
                                      callbacks=[LogMetric("b", lambda t: 2.0)])
    resumed.run()
    assert any("has no column for b" in line for line in lines)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "a" and "b" not in header                  # no row shifted under another heading
    assert {r["a"] for r in rows(tmp_path) if int(r["step"]) > 150} == {""}


def test_the_on_eval_keyword_still_works_beside_callbacks():
    seen = []

    class Recorder(Callback):
        def on_eval(self, trainer, result):
            seen.append(("callback", trainer.step))

    agent = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, TINY, seed=1)
    OffPolicyTrainer(agent, "CartPole-v1", RunSettings(200, eval_freq=100, eval_episodes=1, progress=False, lanes=1),
                     on_eval=lambda t, r: seen.append(("keyword", t.step)), callbacks=[Recorder()]).run()
    assert seen == [("keyword", 100), ("callback", 100), ("keyword", 200), ("callback", 200)]


def test_only_hooks_a_callback_overrides_are_called():
    hooks = Callbacks([StopOnReward(1.0), LogMetric("x", lambda t: 0.0)])
    assert hooks.step == [] and hooks.episode_end == [] and len(hooks.eval) == 1 and hooks.columns == ["x"]
    assert Callbacks([]).step == []


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Callbacks([LogMetric("return", float)], taken=("return",)), "are metrics.csv columns already"),
    (lambda: Callbacks([LogMetric("x", float), LogMetric("x", float)]), "two callbacks log the metric"),
    (lambda: Callbacks([object()]), "must be agents.callbacks.Callback objects"),
    (lambda: StopOnReward("high"), "needs a number"),
    (lambda: StopAfterTime(0), "positive number of seconds"),
    (lambda: LogMetric("a,b", float), "without commas"),
    (lambda: trainer(callbacks=[LogMetric("loss", float)]), "are metrics.csv columns already"),
])
def test_callback_mistakes_are_one_line_errors(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)
