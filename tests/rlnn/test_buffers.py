"""Buffers (running statistics, step counts, dropout's generator state): in ``state_dict``,
restored exactly and all or nothing, saved and loaded by ``rlnn.save``/``rlnn.load``."""

import json
import zipfile

import numpy as np
import pytest

import rlnn
from rlnn.serialization import _parameter_count

from .mutations import fuzz, table


def _trained_net(seed=0, steps=3):
    """A float32 MLP with batch renorm past its warm-up and dropout, after a few train passes."""
    net = rlnn.MLP([3, 6, 4, 2], norm="batch_renorm", norm_before="linear", dropout=0.2,
                   norm_kwargs={"warmup_steps": 2, "momentum": 0.3}, rng_or_seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        net(rng.standard_normal((8, 3)).astype(np.float32) * 2 + 1)
    return net


def _x(rows=5, seed=1):
    return np.random.default_rng(seed).standard_normal((rows, 3)).astype(np.float32)


def test_state_dict_holds_copies_of_every_buffer():
    net = _trained_net()
    state = net.state_dict()
    buffers = dict(net.named_buffers())
    assert set(buffers) == {f"{i}.{name}" for i in (0, 4, 8) for name in ("running_mean", "running_var", "num_batches")} \
        | {"2.rng_state", "6.rng_state"}
    assert set(state) == set(buffers) | {name for name, _ in net.named_parameters()}
    assert int(state["0.num_batches"]) == 3 and state["0.num_batches"].dtype == np.int64
    assert state["2.rng_state"].dtype == np.uint64 and state["0.running_var"].dtype == np.float32
    state["0.running_mean"] += 1.0
    assert not np.array_equal(state["0.running_mean"], buffers["0.running_mean"].value)   # a copy


def test_load_state_dict_restores_buffers_exactly():
    net = _trained_net()
    other = rlnn.MLP([3, 6, 4, 2], norm="batch_renorm", norm_before="linear", dropout=0.2,
                     norm_kwargs={"warmup_steps": 2, "momentum": 0.3}, rng_or_seed=99)
    other.load_state_dict(net.state_dict())
    for (name, a), (_, b) in zip(net.named_buffers(), other.named_buffers()):
        np.testing.assert_array_equal(a.value, b.value, err_msg=name)
    x = _x()
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    np.testing.assert_array_equal(other(x), net(x))          # same dropout masks, same renormalization
    np.testing.assert_array_equal(other(x), net(x))


@pytest.mark.parametrize("name, value, words", [
    ("0.running_mean", np.zeros(4, np.float32), r"'0.running_mean' has shape \(4,\), the module expects \(3,\)"),
    ("0.running_var", -np.ones(3, np.float32), "below its least possible value 0"),
    ("0.running_mean", np.array([0.0, np.nan, 0.0]), "non-finite"),
    ("0.num_batches", np.array(2.0), "holds integers"),
    ("0.num_batches", np.array(-1), "below its least possible value"),
    ("2.rng_state", -np.ones(6, np.int64), "outside the range of uint64"),
    ("2.rng_state", np.zeros(5, np.uint64), "has shape"),
])
def test_bad_buffers_are_refused_in_one_line_and_nothing_changes(name, value, words):
    net = _trained_net()
    before = net.state_dict()
    state = dict(before)
    state["1.weight"] = state["1.weight"] + 1.0          # a good entry beside the bad one: not loaded either
    state[name] = value
    with pytest.raises(ValueError, match=words) as info:
        net.load_state_dict(state)
    assert "\n" not in str(info.value)
    for key, array in net.state_dict().items():
        np.testing.assert_array_equal(array, before[key], err_msg=key)


def test_a_missing_or_extra_buffer_is_named():
    net = _trained_net()
    state = net.state_dict()
    del state["4.running_var"]
    with pytest.raises(ValueError, match=r"missing \['4.running_var'\]"):
        net.load_state_dict(state)
    with pytest.raises(ValueError, match=r"unexpected \['3.running_mean'\]"):
        net.load_state_dict({**net.state_dict(), "3.running_mean": np.zeros(3)})


def test_save_and_load_round_trip_with_buffers(tmp_path):
    net = _trained_net()
    same = rlnn.load(rlnn.save(net, tmp_path / "bn.npz"))
    assert type(same) is rlnn.MLP and same.config() == net.config()
    assert same.config()["norm_kwargs"] == {"warmup_steps": 2, "momentum": 0.3}
    for key, array in net.state_dict().items():
        loaded = same.state_dict()[key]
        assert loaded.dtype == array.dtype
        np.testing.assert_array_equal(loaded, array, err_msg=key)
    x = _x()
    np.testing.assert_array_equal(same.predict(x), net.predict(x))
    for _ in range(2):                                         # training resumes where it stopped
        np.testing.assert_array_equal(same(x), net(x))


def test_save_and_load_of_sequential_layers(tmp_path):
    net = rlnn.Sequential(rlnn.LayerNorm(3, eps=1e-4), rlnn.Linear(3, 4, rng_or_seed=0), rlnn.Dropout(0.5, seed=3),
                          rlnn.BatchNorm(4, momentum=0.5), rlnn.Tanh(), rlnn.Linear(4, 1, rng_or_seed=1))
    net(_x())
    same = rlnn.load(rlnn.save(net, tmp_path / "seq.npz"))
    assert same.config() == net.config()
    x = _x(seed=4)
    np.testing.assert_array_equal(same(x), net(x))


def test_load_refuses_a_buffer_of_another_dtype(tmp_path):
    net = _trained_net()
    path = rlnn.save(net, tmp_path / "bn.npz")
    arrays, meta = rlnn.load_arrays(path)
    arrays["4.running_mean"] = arrays["4.running_mean"].astype(np.float64)
    rlnn.save_arrays(tmp_path / "f64.npz", arrays, meta)
    with pytest.raises(ValueError, match="'4.running_mean' is float64, the architecture's buffer is float32") as info:
        rlnn.load(tmp_path / "f64.npz")
    assert "\n" not in str(info.value) and str(info.value).startswith(str(tmp_path / "f64.npz"))


@pytest.mark.parametrize("module", [
    rlnn.MLP([3, 6, 4, 2], norm="batch", rng_or_seed=0),
    rlnn.MLP([3, 6, 4, 2], norm="layer", norm_before="linear", dropout=0.1, rng_or_seed=0),
    rlnn.Sequential(rlnn.BatchNorm(3), rlnn.Linear(3, 2), rlnn.Dropout(0.1), rlnn.LayerNorm(2)),
], ids=["mlp-batch", "mlp-layer-linear", "sequential"])
def test_the_architecture_declares_every_norm_parameter(module):
    """rlnn.load refuses, before building, an architecture describing more parameters than the
    file holds; the count must know the norm layers' scales and shifts."""
    assert _parameter_count(module.config()) == module.num_parameters()


def test_a_forged_architecture_is_refused_before_building(tmp_path):
    net = rlnn.MLP([3, 4, 2], norm="batch", rng_or_seed=0)
    path = rlnn.save(net, tmp_path / "m.npz")
    arrays, meta = rlnn.load_arrays(path)
    meta["architecture"]["sizes"] = [3, 10**6, 2]
    forged = tmp_path / "forged.npz"
    rlnn.save_arrays(forged, arrays, {k: v for k, v in meta.items() if k not in ("format", "format_version")})
    with pytest.raises(ValueError, match="the architecture has .* parameters but the file holds only"):
        rlnn.load(forged)


def test_mutation_fuzz_of_a_file_with_buffers(tmp_path, capsys):
    # layer norm and dropout: the mutator cannot yet reverse a 0-d array such as batch norm's
    # step count (tests/rlnn/mutations.py), whose bad values the test above covers
    net = rlnn.MLP([3, 6, 4, 2], norm="layer", dropout=0.2, rng_or_seed=0)
    net(_x())
    valid = rlnn.save(net, tmp_path / "valid.npz").read_bytes()

    def verify(model, path) -> bool:
        with np.load(path, allow_pickle=False) as reference:
            state = model.state_dict()
            return set(state) == set(reference.files) - {"__meta__"} and all(
                np.array_equal(value, reference[name]) for name, value in state.items()) \
                and np.isfinite(model.predict(np.ones((1, 3), dtype=np.float32))).all()

    counts, bad = fuzz(valid, 300, rlnn.load, verify, tmp_path, seed=21)
    with capsys.disabled():
        print("\nrlnn.load, 300 mutations of a layer-norm/dropout MLP file:\n" + table(counts))
    assert not bad, "\n".join(bad[:20])


def test_files_of_plain_networks_are_unchanged(tmp_path):
    """No buffers, no new keys: a plain MLP's file holds exactly what it always held."""
    net = rlnn.MLP([3, 4, 2], rng_or_seed=0)
    path = rlnn.save(net, tmp_path / "plain.npz")
    with zipfile.ZipFile(path) as z:
        names = sorted(z.namelist())
        meta = json.loads(np.load(path)["__meta__"].tobytes())
    assert names == ["0.bias.npy", "0.weight.npy", "2.bias.npy", "2.weight.npy", "__meta__.npy"]
    assert meta["architecture"] == {"type": "MLP", "sizes": [3, 4, 2], "activation": "relu",
                                    "output_activation": "identity", "dtype": "float32"}
