"""Observation spaces: flattening and one-hot encoding (gymnasium's layout), single and batched,
the image refusal, and the JSON descriptions checkpoints keep (round trip, hostile files)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector.utils import batch_space, iterate

from agents.spaces import MAX_SPACE_SIZE, ObservationEncoder, space_from_json, space_to_json

IMAGE_WORDS = "image observations (Box of shape (H, W, C)) are not supported"

SPACES = {
    "box": spaces.Box(-1.0, 1.0, (3,), np.float32),
    "box_2d": spaces.Box(-2.0, 2.0, (2, 3), np.float32),
    "box_scalar": spaces.Box(-np.inf, np.inf, (), np.float64),
    "box_int": spaces.Box(0, 9, (2,), np.int64),
    "discrete": spaces.Discrete(5, start=2),
    "multi_binary": spaces.MultiBinary(4),
    "multi_binary_2d": spaces.MultiBinary([2, 3]),
    "multi_discrete": spaces.MultiDiscrete([3, 2, 4]),
    "multi_discrete_2d": spaces.MultiDiscrete([[2, 3], [4, 1]], start=[[0, 1], [-2, 5]]),
    "tuple": spaces.Tuple((spaces.Discrete(3), spaces.Box(0.0, 1.0, (2,), np.float32))),
    # keys given out of order in a list: gymnasium keeps that order, and so must the encoding
    "dict_nested": spaces.Dict([("z", spaces.Box(-1.0, 1.0, (2,), np.float32)), ("a", spaces.Discrete(4)),
                                ("m", spaces.Tuple((spaces.MultiBinary(2),
                                                    spaces.Dict({"k": spaces.MultiDiscrete([2, 5])}))))]),
}


def flat(space, x):
    return spaces.flatten(space, x).astype(np.float32)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_one_observation_is_gymnasiums_flatten(name):
    space = SPACES[name]
    space.seed(0)
    encoder = ObservationEncoder(space)
    assert encoder.dim == spaces.flatdim(space)
    for _ in range(5):
        x = space.sample()
        row = encoder.encode(x)
        assert row.dtype == np.float32 and row.shape == (encoder.dim,)
        np.testing.assert_array_equal(row, flat(space, x))
        assert encoder.encode(row) is row           # idempotent: encoded rows pass through untouched


@pytest.mark.parametrize("name", sorted(SPACES))
def test_a_batch_is_one_row_per_observation(name):
    space = SPACES[name]
    batched = batch_space(space, 6)                # what a Gymnasium vector env of 6 returns
    batched.seed(1)
    xs = batched.sample()
    rows = ObservationEncoder(space).encode(xs)
    assert rows.dtype == np.float32 and rows.shape == (6, spaces.flatdim(space))
    np.testing.assert_array_equal(rows, np.stack([flat(space, x) for x in iterate(batched, xs)]))
    assert ObservationEncoder(space).encode(rows) is rows


def test_discrete_is_one_hot_and_a_flat_box_costs_nothing():
    encoder = ObservationEncoder(spaces.Discrete(4, start=1))
    np.testing.assert_array_equal(encoder.encode(3), [0, 0, 1, 0])
    np.testing.assert_array_equal(encoder.encode(np.array([1, 4])), [[1, 0, 0, 0], [0, 0, 0, 1]])
    box = ObservationEncoder(spaces.Box(-1.0, 1.0, (3,), np.float32))
    obs = np.zeros((5, 3), np.float32)
    assert box.encode(obs) is obs and box.encode(obs[0]) is not None
    np.testing.assert_array_equal(box.encode([1, 2, 3]), np.array([1, 2, 3], np.float32))


class DictEnv(gym.Env):
    observation_space = spaces.Dict({"pos": spaces.Box(-1.0, 1.0, (2,), np.float32), "phase": spaces.Discrete(3),
                                     "pair": spaces.Tuple((spaces.MultiBinary(2), spaces.MultiDiscrete([2, 3])))})
    action_space = spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = int(self.np_random.integers(0, 6))
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, False, self.t >= 10, {}

    def _obs(self):
        return {"pos": np.array([self.t / 10, -self.t / 10], np.float32), "phase": self.t % 3,
                "pair": (np.array([self.t % 2, 1], np.int8), np.array([self.t % 2, self.t % 3]))}


def test_a_dict_from_a_vector_env():
    envs = gym.vector.SyncVectorEnv([DictEnv for _ in range(3)])
    obs, _ = envs.reset(seed=[4, 5, 6])
    encoder = ObservationEncoder(envs.single_observation_space)
    rows = encoder.encode(obs)
    singles = [DictEnv().reset(seed=s)[0] for s in (4, 5, 6)]
    np.testing.assert_array_equal(rows, np.stack([encoder.encode(x) for x in singles]))
    np.testing.assert_array_equal(rows[1], flat(DictEnv.observation_space, singles[1]))
    envs.close()


@pytest.mark.parametrize("space, entry", [
    (spaces.Box(0, 255, (64, 64, 3), np.uint8), None),
    (spaces.Box(0.0, 1.0, (4, 84, 84), np.float32), None),
    (spaces.Dict({"camera": spaces.Box(0, 255, (8, 8, 3), np.uint8), "v": spaces.Box(-1.0, 1.0, (2,))}), "['camera']"),
    (spaces.Tuple((spaces.Discrete(2), spaces.Text(5))), "[1]"),
    (spaces.Graph(spaces.Box(0.0, 1.0, (2,)), None), None),
])
def test_images_and_other_spaces_get_one_line_that_says_what_is_supported(space, entry):
    with pytest.raises(ValueError) as info:
        ObservationEncoder(space, "SAC")
    message = str(info.value)
    assert "\n" not in message and message.startswith("SAC cannot take observations of")
    assert "Box (flattened), Discrete (one-hot)" in message and IMAGE_WORDS in message
    if entry:
        assert f"its entry {entry}" in message


@pytest.mark.parametrize("space, obs, words", [
    (spaces.Discrete(4), 4, "outside Discrete(4)"),
    (spaces.Discrete(4), 1.0, "must hold integers"),
    (spaces.MultiDiscrete([2, 3]), np.array([1, 3]), "outside"),
    (spaces.Box(-1.0, 1.0, (2, 3)), np.zeros((3, 2)), "has shape (3, 2)"),
    (DictEnv.observation_space, {"pos": np.zeros(2)}, "has keys"),
    (DictEnv.observation_space, np.zeros(3), "must be a dict"),
    (spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))), (1,), "tuple of 2 entries"),
    (spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))), (np.array([0, 1]), 2), "mixes single entries and batches"),
])
def test_observations_that_do_not_fit_are_one_line_errors(space, obs, words):
    with pytest.raises(ValueError) as info:
        ObservationEncoder(space).encode(obs)
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_space_descriptions_round_trip(name):
    space = SPACES[name]
    rebuilt = space_from_json(space_to_json(space))
    assert rebuilt == space and type(rebuilt) is type(space)
    if isinstance(space, spaces.Dict):
        assert list(rebuilt.spaces) == ["z", "a", "m"]     # the key order is the encoding's order


def _nested(depth):
    desc = {"type": "Discrete", "n": 2}
    for _ in range(depth):
        desc = {"type": "Tuple", "spaces": [desc]}
    return desc


def _box(shape, value=0.0):
    fill = value
    for d in reversed(shape):
        fill = [fill] * d
    return {"type": "Box", "low": fill, "high": fill, "shape": list(shape), "dtype": "float32"}


@pytest.mark.parametrize("desc, words", [
    (_nested(20), "nested more than"),
    ({"type": "Box", "low": 0, "high": 1, "shape": [1000, 1000, 10], "dtype": "float32"}, "beyond the"),
    ({"type": "Box", "low": [0, 0], "high": [1, 1], "shape": [2, 1], "dtype": "float32"}, "lists of shape (2, 1)"),
    ({"type": "Box", "low": [[0], [0, 1]], "high": [[1], [1]], "shape": [2, 1], "dtype": "float32"}, "nested lists"),
    ({"type": "Box", "low": [[float("nan")]], "high": [[1]], "shape": [1, 1], "dtype": "float32"}, "no NaN"),
    ({"type": "Box", "low": [0] * 9, "high": [1] * 9, "shape": [1] * 9, "dtype": "float32"}, "shape of 0 to 8"),
    ({"type": "Tuple", "spaces": [_box([600, 1000]), _box([600, 1000])]}, "beyond the"),
    ({"type": "Tuple", "spaces": [{"type": "Discrete", "n": MAX_SPACE_SIZE}] * 2}, "beyond the"),
    ({"type": "Tuple", "spaces": {"a": _box([1])}}, "a list of spaces"),
    ({"type": "Tuple", "spaces": [{"type": "Tuple", "spaces": [_box([1])] * 200}] * 60}, "more than 10,000 spaces"),
    ({"type": "Dict", "spaces": [["a", _box([1])], ["a", _box([1])]]}, "key twice"),
    ({"type": "Dict", "spaces": [["x" * 201, _box([1])]]}, "string keys"),
    ({"type": "Dict", "spaces": [[3, _box([1])]]}, "string keys"),
    ({"type": "Dict", "spaces": [["a"]]}, "[key, space] pairs"),
    ({"type": "MultiBinary", "n": []}, "shape of 1 to 8"),
    ({"type": "MultiBinary", "n": 0}, "shape of 1 to 8"),
    ({"type": "MultiBinary", "n": [10**7]}, "shape of 1 to 8"),
    ({"type": "MultiBinary", "n": [1000, 1001]}, "beyond the"),
    ({"type": "MultiDiscrete", "shape": [2], "nvec": [0, 3], "start": [0, 0], "dtype": "int64"}, "nvec"),
    ({"type": "MultiDiscrete", "shape": [2], "nvec": [MAX_SPACE_SIZE, 3], "start": [0, 0]}, "one-hot encoding"),
    ({"type": "MultiDiscrete", "shape": [2], "nvec": [2, 3], "start": [0, 0], "dtype": "float32"}, "integer dtype"),
    ({"type": "MultiDiscrete", "shape": [1], "nvec": [300], "start": [0], "dtype": "uint8"}, "invalid"),
    ({"type": "Graph"}, "unknown space description"),
])
def test_hostile_space_descriptions_are_refused_in_one_line(desc, words):
    with pytest.raises(ValueError) as info:
        space_from_json(desc)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 300
