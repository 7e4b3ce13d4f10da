"""TensorBoard event files written by our own writer, read back by TensorBoard's own reader."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest

from agents import DQN, OffPolicyTrainer, RunSettings
from agents.callbacks import LogMetric
from agents.event_file import FILE_PREFIX, _varint, crc32c, event, masked_crc32c

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

CARTPOLE = gym.make("CartPole-v1")
TINY = {"net_arch": [16], "learning_starts": 50, "batch_size": 16, "target_update_interval": 50}


def test_the_encodings_match_their_specifications():
    assert crc32c(b"123456789") == 0xE3069283                      # the CRC-32C check value
    assert crc32c(b"") == 0 and masked_crc32c(b"") == 0xA282EAD8
    assert _varint(1) == b"\x01" and _varint(300) == b"\xac\x02" and len(_varint(-1)) == 10
    # Event{step: 2, summary{value{tag: "a", simple_value: 1.0}}}, wall time 0
    wall_time, step = b"\x09" + bytes(8), b"\x10\x02"
    summary, value, tag, simple_value = b"\x2a\x0a", b"\x0a\x08", b"\x0a\x01a", b"\x15\x00\x00\x80\x3f"
    assert event(2, wall_time=0.0, scalars={"a": 1.0}) == wall_time + step + summary + value + tag + simple_value


def train(run_dir, steps=400, stop_at=None, **kw) -> OffPolicyTrainer:
    agent = DQN(CARTPOLE.observation_space, CARTPOLE.action_space, TINY, seed=1)
    settings = RunSettings(steps, seed=1, progress=False, lanes=1, run_dir=run_dir, eval_freq=100, eval_episodes=1,
                           tensorboard=True, **kw)
    twice_step = LogMetric("twice_step", lambda t: 2 * t.step)
    trainer = OffPolicyTrainer(agent, "CartPole-v1", settings, callbacks=[twice_step])
    trainer.run(stop_at)
    return trainer


def scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    acc = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def csv_rows(run_dir) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def column(rows, kind: str, key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows if r["kind"] == kind and r[key] != ""]


def assert_close(got: list[tuple[int, float]], want: list[tuple[int, float]]) -> None:
    assert [s for s, _ in got] == [s for s, _ in want] and got
    np.testing.assert_allclose([v for _, v in got], [v for _, v in want], rtol=1e-5)   # csv has 6 digits


def test_every_metric_reads_back_with_tensorboards_own_reader(tmp_path):
    train(tmp_path)
    tb, rows = scalars(tmp_path), csv_rows(tmp_path)
    assert {"episode/return", "episode/length", "train/loss", "train/q_mean", "eval/mean_return",
            "eval/std_return", "custom/twice_step", "time/steps_per_s"} <= set(tb)
    for tag, kind, key in [("episode/return", "episode", "return"), ("episode/length", "episode", "length"),
                           ("train/loss", "episode", "loss"), ("custom/twice_step", "episode", "twice_step"),
                           ("eval/mean_return", "eval", "eval_mean_return")]:
        assert_close(tb[tag], column(rows, kind, key))
    assert [s for s, _ in tb["eval/mean_return"]] == [100, 200, 300, 400]


def test_a_resumed_run_appends_a_file_and_tensorboard_shows_one_run(tmp_path):
    whole = tmp_path / "whole"
    train(whole)
    cut = tmp_path / "cut"
    t = train(cut, stop_at=150)
    t.save_checkpoints(periodic=False)       # the resume point at 150, then the run went on to 260
    t.run(stop_at=260)
    OffPolicyTrainer.resume(cut, progress=False, callbacks=[LogMetric("twice_step", lambda t: 2 * t.step)]).run()
    assert len(list((cut / "tensorboard").glob(FILE_PREFIX + "*"))) == 2
    got, want = scalars(cut), scalars(whole)
    for tag in ("episode/return", "train/loss", "eval/mean_return", "custom/twice_step"):
        assert got[tag] == want[tag], tag              # steps 151-260 of the first file were dropped
    train(cut, overwrite=True)                         # a fresh run replaces the old run's event files
    assert len(list((cut / "tensorboard").glob(FILE_PREFIX + "*"))) == 1
