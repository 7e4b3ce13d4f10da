"""The file reader trusts nothing in the file (issue 17): sizes checked before allocating,
bounded metadata, no pickle, one-line errors; writes atomic and leave no temporary behind."""

import io
import json
import os
import pickle
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlnn
from rlnn import serialization

from .mutations import archive, entries, fuzz, npy, table


def _meta_entry(meta: object) -> tuple[str, bytes]:
    return "__meta__.npy", npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))


def _one_line_error(path, words: str, reader=rlnn.load_arrays) -> str:
    with pytest.raises(ValueError, match=words or None) as info:
        reader(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path))
    return text


def test_a_header_declaring_1e11_elements_is_refused_before_allocating(tmp_path):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }"
    header += " " * (118 - len(header)) + "\n"
    entry = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)
    path = tmp_path / "big.npz"
    path.write_bytes(archive([("w.npy", entry), _meta_entry({"format": "rlnn", "format_version": 1})]))
    tracemalloc.start()
    _one_line_error(path, r"declares shape \(100000000000,\)")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("depth, ok", [(60, True), (65, False), (100_000, False)])
def test_metadata_nesting_is_bounded(tmp_path, depth, ok):
    text = '{"format": "rlnn", "format_version": 1, "x": ' + "[" * depth + "]" * depth + "}"
    path = tmp_path / "deep.npz"
    path.write_bytes(archive([("__meta__.npy", npy(np.frombuffer(text.encode(), dtype=np.uint8)))]))
    if ok:
        assert rlnn.load_arrays(path)[1]["format"] == "rlnn"
    else:
        _one_line_error(path, "nests deeper than 64")


def test_metadata_the_reader_would_refuse_is_not_written(tmp_path):
    deep: list = []
    for _ in range(70):
        deep = [deep]
    with pytest.raises(ValueError, match="nests deeper"):
        rlnn.save_arrays(tmp_path / "w.npz", {}, {"x": deep})
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="nests deeper"):
        rlnn.save_arrays(tmp_path / "w.npz", {}, {"x": cycle})
    assert not any(tmp_path.iterdir())


def test_metadata_size_is_bounded(tmp_path):
    path = tmp_path / "huge.npz"
    big = {"format": "rlnn", "format_version": 1, "x": "a" * (serialization.MAX_META_BYTES + 10)}
    path.write_bytes(archive([_meta_entry(big)]))
    _one_line_error(path, "metadata must be at most")
    with pytest.raises(ValueError, match="bytes of JSON"):
        rlnn.save_arrays(tmp_path / "w.npz", {}, {"x": big["x"]})


@pytest.mark.parametrize("mutation, words", [
    ("compressed", "compressed"), ("duplicate", "twice"), ("not_npy", "not a .npy array"),
    ("object", "object array"), ("structured", "header this reader does not accept|plain numeric"),
    ("string", "plain numeric"), ("version3", "format version 3"), ("bad_json", "not valid JSON"),
    ("list_meta", "foreign file"), ("bool_version", "integer format_version"), ("trailing", "declares shape"),
])
def test_malformed_archives_are_one_line_errors(tmp_path, mutation, words):
    good = rlnn.save(rlnn.MLP([2, 3, 1], rng_or_seed=0), tmp_path / "good.npz").read_bytes()
    items = entries(good)
    meta = {"format": "rlnn", "format_version": 1, "kind": "model"}
    if mutation == "compressed":
        data = archive(items, zipfile.ZIP_DEFLATED)
    elif mutation == "duplicate":
        data = archive([*items, items[0]])
    elif mutation == "not_npy":
        data = archive([*items, ("evil.py", b"print(1)")])
    elif mutation == "object":
        data = archive([*items, ("o.npy", npy(np.array([object()], dtype=object)))])
    elif mutation == "structured":
        data = archive([*items, ("s.npy", npy(np.zeros(2, dtype=[("a", "<f4")])))])
    elif mutation == "string":
        data = archive([*items, ("s.npy", npy(np.array(["abc"])))])
    elif mutation == "version3":
        raw = bytearray(npy(np.zeros(2)))
        raw[6] = 3
        data = archive([*items, ("v.npy", bytes(raw))])
    elif mutation == "bad_json":
        data = archive([("__meta__.npy", npy(np.frombuffer(b"{not json", dtype=np.uint8)))])
    elif mutation == "list_meta":
        data = archive([_meta_entry([1, 2])])
    elif mutation == "bool_version":
        data = archive([_meta_entry({**meta, "format_version": True})])
    else:
        data = archive([*items, ("t.npy", npy(np.zeros(3)) + b"extra")])
    path = tmp_path / "bad.npz"
    path.write_bytes(data)
    _one_line_error(path, words)


def test_no_pickle_is_ever_loaded(tmp_path, monkeypatch):
    good = rlnn.save(rlnn.MLP([2, 1], rng_or_seed=0), tmp_path / "good.npz").read_bytes()
    path = tmp_path / "evil.npz"
    path.write_bytes(archive([*entries(good), ("x.npy", npy(np.array([{"a": 1}], dtype=object)))]))

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used")
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    _one_line_error(path, "object array", rlnn.load)


def test_every_truncation_is_a_one_line_error(tmp_path):
    data = rlnn.save(rlnn.MLP([3, 4, 2], rng_or_seed=0), tmp_path / "good.npz").read_bytes()
    path = tmp_path / "cut.npz"
    for cut in range(0, len(data), 7):
        path.write_bytes(data[:cut])
        _one_line_error(path, "", rlnn.load)


def test_byte_order_and_fortran_order_load_as_numpy_would(tmp_path):
    meta = _meta_entry({"format": "rlnn", "format_version": 1})
    big = np.arange(6, dtype=">f4").reshape(2, 3)
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    path = tmp_path / "orders.npz"
    path.write_bytes(archive([("big.npy", npy(big)), ("f.npy", npy(fortran)), meta]))
    arrays, _ = rlnn.load_arrays(path)
    assert arrays["big"].dtype == np.float32 and arrays["big"].dtype.isnative
    np.testing.assert_array_equal(arrays["big"], big)
    np.testing.assert_array_equal(arrays["f"], fortran)
    arrays["f"][0, 0] = 5.0                     # loaded arrays are writable, as np.load's are


def test_a_forged_architecture_allocates_nothing(tmp_path):
    net = rlnn.MLP([2, 3, 1], rng_or_seed=0)
    arch = {"type": "MLP", "sizes": [2, 100_000, 100_000, 1], "activation": "relu",
            "output_activation": "identity", "dtype": "float32"}
    rlnn.save_arrays(tmp_path / "forged.npz", net.state_dict(), {"kind": "model", "architecture": arch})
    tracemalloc.start()
    _one_line_error(tmp_path / "forged.npz", "10000500001 parameters but the file holds only 13", rlnn.load)
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()


def test_a_file_never_changes_a_models_precision(tmp_path):
    net = rlnn.MLP([2, 3, 1], rng_or_seed=0)
    state = {k: v.astype(np.float64) for k, v in net.state_dict().items()}
    rlnn.save_arrays(tmp_path / "f64.npz", state, {"kind": "model", "architecture": net.config()})
    _one_line_error(tmp_path / "f64.npz", "is float64, the architecture's parameters are float32", rlnn.load)
    state["0.weight"][0, 0] = np.nan
    rlnn.save_arrays(tmp_path / "nan.npz", {k: v.astype(np.float32) for k, v in state.items()},
                     {"kind": "model", "architecture": net.config()})
    _one_line_error(tmp_path / "nan.npz", "non-finite", rlnn.load)


def test_an_interrupted_write_leaves_no_temporary(tmp_path, monkeypatch):
    path = rlnn.save(rlnn.MLP([2, 1], rng_or_seed=0), tmp_path / "model.npz")
    before = path.read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        rlnn.save(rlnn.MLP([2, 1], rng_or_seed=1), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    prefix = serialization._temp_prefix(tmp_path / "model.npz")
    dead_pid = 2**22 + 12345           # above the default pid_max: no such process
    dead = tmp_path / f"{prefix}{dead_pid}.abc.tmp"
    live = tmp_path / f"{prefix}{os.getpid()}.def.tmp"    # a writer still at work: kept
    other = tmp_path / f".other.npz.{prefix.split('.', 3)[-1]}{dead_pid}.x.tmp"
    for p in (dead, live, other):
        p.write_bytes(b"partial")
    rlnn.save(rlnn.MLP([2, 1], rng_or_seed=0), tmp_path / "model.npz")
    assert not dead.exists() and live.exists() and other.exists()


def test_names_the_reader_refuses_are_refused_on_writing(tmp_path):
    for arrays in ({"": np.zeros(1)}, {"__meta__": np.zeros(1)}, {3: np.zeros(1)}, {"x": np.array([object()])}):
        with pytest.raises(ValueError):
            rlnn.save_arrays(tmp_path / "w.npz", arrays, {})
    assert not any(tmp_path.iterdir())


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 7), min_size=2, max_size=5),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "identity", "step", "softmax"]),
       output=st.sampled_from(["identity", "softmax", "tanh", "sigmoid", "relu"]),
       dtype=st.sampled_from(["float16", "float32", "float64"]), seed=st.integers(0, 2**32 - 1),
       bias_scale=st.floats(-1e3, 1e3))
def test_save_then_load_round_trips_any_mlp_exactly(tmp_path_factory, sizes, activation, output, dtype, seed,
                                                   bias_scale):
    net = rlnn.MLP(sizes, activation=activation, output_activation=output, rng_or_seed=seed, dtype=dtype)
    for p in net.parameters()[1::2]:
        p.value = np.random.default_rng(seed).standard_normal(p.shape) * bias_scale
    path = rlnn.save(net, tmp_path_factory.mktemp("rt") / "m.npz", metadata={"seed": seed})
    same = rlnn.load(path)
    assert type(same) is rlnn.MLP and same.config() == net.config()
    for (name, p), (name2, q) in zip(net.named_parameters(), same.named_parameters()):
        assert name == name2 and q.dtype == p.dtype
        np.testing.assert_array_equal(q.value, p.value)
    x = np.random.default_rng(seed).standard_normal((3, sizes[0]))
    np.testing.assert_array_equal(same.predict(x), net.predict(x))


def test_mutation_fuzz_of_a_model_file(tmp_path, capsys):
    net = rlnn.MLP([3, 4, 2], activation="tanh", rng_or_seed=0)
    valid = rlnn.save(net, tmp_path / "valid.npz", metadata={"note": "fuzz"}).read_bytes()

    def verify(model, path) -> bool:
        with np.load(path, allow_pickle=False) as reference:      # numpy's reader as the reference
            return all(np.array_equal(p.value, reference[name]) and p.dtype == reference[name].dtype.newbyteorder("=")
                       for name, p in model.named_parameters()) and np.isfinite(model.predict(np.ones((1, 3)))).all()

    counts, bad = fuzz(valid, 1500, rlnn.load, verify, tmp_path, seed=17)
    with capsys.disabled():
        print("\nrlnn.load, 1500 mutations of an MLP file:\n" + table(counts))
    assert not bad, "\n".join(bad[:20])
