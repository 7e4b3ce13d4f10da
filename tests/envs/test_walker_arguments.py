"""The walker and its terrain refuse invalid arguments in one line, and a window never touches
the sound card (issue 17)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pymunk
import pytest

import envs  # noqa: F401  (registers the ids)
from envs import terrain
from envs.walker import MAX_COURSE_LENGTH, WalkerEnv


def _one_line(exc: BaseException) -> str:
    assert str(exc) and "\n" not in str(exc)
    return str(exc)


@pytest.mark.parametrize("kwargs, words", [
    ({"course_length": 0}, "course_length"), ({"course_length": -1}, "course_length"),
    ({"course_length": math.nan}, "course_length"), ({"course_length": math.inf}, "course_length"),
    ({"course_length": 1e9}, "course_length"), ({"course_length": "42"}, "course_length"),
    ({"course_length": True}, "course_length"), ({"course_length": None}, "course_length"),
    ({"rough": "yes"}, "rough"), ({"rough": 1.0}, "rough"), ({"render_mode": "humans"}, "render_mode"),
    ({"render_mode": 3}, "render_mode"),
])
def test_walker_refuses_invalid_arguments(kwargs, words):
    with pytest.raises(ValueError, match=words) as info:
        WalkerEnv(**kwargs)
    _one_line(info.value)
    if "render_mode" not in kwargs:                  # (gymnasium checks render_mode itself first)
        with pytest.raises(ValueError, match=words):  # through gym.make too
            gym.make("rlnn/Walker-v0", **kwargs)


def test_the_longest_course_builds_quickly_and_a_short_one_finishes():
    env = WalkerEnv(rough=True, course_length=MAX_COURSE_LENGTH)
    env.reset(seed=0)
    assert env.terrain[-1, 0] >= MAX_COURSE_LENGTH
    env = WalkerEnv(course_length=np.float32(5.0))
    assert env.course_length == 5.0


@pytest.mark.parametrize("call", [
    lambda: terrain.flat_terrain(0.0), lambda: terrain.flat_terrain(math.nan), lambda: terrain.flat_terrain(1e12),
    lambda: terrain.rough_terrain(np.random.default_rng(0), 1e9, 6.0),
    lambda: terrain.rough_terrain(np.random.default_rng(0), 50.0, -1.0),
    lambda: terrain.rough_terrain(np.random.default_rng(0), 50.0, 60.0),
    lambda: terrain.rough_terrain(0, 50.0, 6.0),
    lambda: terrain.add_terrain(pymunk.Space(), np.array([[0.0, 0.0]]), 1.0, 1),
    lambda: terrain.add_terrain(pymunk.Space(), np.array([[0.0, 0.0], [0.0, 1.0]]), 1.0, 1),
    lambda: terrain.add_terrain(pymunk.Space(), np.array([[0.0, 0.0], [1.0, np.nan]]), 1.0, 1),
    lambda: terrain.add_terrain(pymunk.Space(), np.array([[0.0, 0.0], [1.0, 0.0]]), -1.0, 1),
    lambda: terrain.add_terrain(pymunk.Space(), np.array([[0.0, 0.0], [1.0, 0.0]]), math.nan, 1),
])
def test_terrain_refuses_invalid_arguments(call):
    with pytest.raises(ValueError) as info:
        call()
    _one_line(info.value)


def test_a_window_on_a_headless_machine_never_initialises_audio():
    """No ALSA noise: only pygame's display is initialised (here on SDL's off-screen driver)."""
    code = ("import numpy as np; from envs.rendering import HumanWindow; "
            "w = HumanWindow(60, 40, 'test'); w.show(np.zeros((40, 60, 3), np.uint8), 1000); import pygame; "
            "assert pygame.mixer.get_init() is None, 'audio initialised'; w.close(); print('ok')")
    env = {k: v for k, v in os.environ.items() if k not in ("SDL_AUDIODRIVER", "PYGAME_HIDE_SUPPORT_PROMPT")}
    env["SDL_VIDEODRIVER"] = "dummy"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert "ALSA" not in done.stderr and "audio" not in done.stderr.lower(), done.stderr
