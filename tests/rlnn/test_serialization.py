"""save/load: exact round trips, atomic writes, and clear errors for bad files."""

import io
import json
import zipfile

import numpy as np
import pytest

import rlnn


def _net():
    return rlnn.MLP([3, 5, 2], activation="tanh", output_activation="softmax", rng_or_seed=0, dtype=np.float64)


def test_round_trip_is_exact(tmp_path):
    net = _net()
    path = rlnn.save(net, tmp_path / "model.npz", metadata={"note": "hi"})
    same = rlnn.load(path)
    assert isinstance(same, rlnn.MLP) and same.config() == net.config()
    for (name, p), (name2, q) in zip(net.named_parameters(), same.named_parameters()):
        assert name == name2 and q.dtype == p.dtype
        np.testing.assert_array_equal(p.value, q.value)
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_array_equal(net(x), same(x))
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind


def test_round_trip_of_sequential_and_float32(tmp_path):
    net = rlnn.Sequential(rlnn.Linear(2, 3, rng_or_seed=0), rlnn.LeakyReLU(0.2), rlnn.Linear(3, 1, bias=False))
    same = rlnn.load(rlnn.save(net, tmp_path / "seq.npz"))
    assert same.config() == net.config()
    x = np.ones((2, 2), dtype=np.float32)
    np.testing.assert_array_equal(net(x), same(x))


def test_copy_is_independent():
    net = _net()
    clone = net.copy()
    clone.parameters()[0].value += 1
    assert not np.array_equal(net.parameters()[0].value, clone.parameters()[0].value)


def test_save_arrays_meta_round_trip(tmp_path):
    rlnn.save_arrays(tmp_path / "a.npz", {"x": np.arange(3)}, {"kind": "buffer", "n": 3})
    arrays, meta = rlnn.load_arrays(tmp_path / "a.npz")
    np.testing.assert_array_equal(arrays["x"], np.arange(3))
    assert meta["kind"] == "buffer" and meta["n"] == 3 and meta["format"] == "rlnn"
    with pytest.raises(ValueError, match="only numeric"):
        rlnn.save_arrays(tmp_path / "b.npz", {"x": np.array(["a"])}, {})


def _rewrite(src, dst, replace):
    """Copy the zip ``src`` to ``dst`` with entries replaced by ``replace`` (name -> array)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            name = item.filename[:-4]
            if name in replace:
                buf = io.BytesIO()
                np.save(buf, replace[name], allow_pickle=True)
                zout.writestr(item.filename, buf.getvalue())
            else:
                zout.writestr(item, zin.read(item))


def test_object_array_is_refused(tmp_path):
    good = rlnn.save(_net(), tmp_path / "good.npz")
    _rewrite(good, tmp_path / "evil.npz", {"0.weight": np.array([{"pickled": True}], dtype=object)})
    with pytest.raises(ValueError, match="object array"):
        rlnn.load(tmp_path / "evil.npz")


def test_truncated_file_is_refused(tmp_path):
    data = rlnn.save(_net(), tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated|corrupt"):
        rlnn.load(tmp_path / "cut.npz")


def test_mismatched_shapes_are_refused(tmp_path):
    good = rlnn.save(_net(), tmp_path / "good.npz")
    _rewrite(good, tmp_path / "bad.npz", {"0.weight": np.zeros((3, 6))})
    with pytest.raises(ValueError, match=r"0\.weight.*shape"):
        rlnn.load(tmp_path / "bad.npz")


def test_foreign_and_wrong_kind_files_are_refused(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="not an rlnn file"):
        rlnn.load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match="single .npy"):
        rlnn.load(tmp_path / "single.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a readable"):
        rlnn.load(tmp_path / "text.npz")
    foreign = np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8)
    np.savez(tmp_path / "foreign.npz", __meta__=foreign)
    with pytest.raises(ValueError, match="foreign"):
        rlnn.load(tmp_path / "foreign.npz")
    rlnn.save_arrays(tmp_path / "buffer.npz", {"x": np.zeros(2)}, {"kind": "buffer"})
    with pytest.raises(ValueError, match="not a saved model"):
        rlnn.load(tmp_path / "buffer.npz")
    rlnn.save_arrays(tmp_path / "future.npz", {}, {"kind": "model", "format_version": 99})
    with pytest.raises(ValueError, match="newer"):
        rlnn.load(tmp_path / "future.npz")


def test_missing_entries_are_refused(tmp_path):
    net = _net()
    state = net.state_dict()
    del state["2.bias"]
    rlnn.save_arrays(tmp_path / "m.npz", state, {"kind": "model", "architecture": net.config()})
    with pytest.raises(ValueError, match="missing"):
        rlnn.load(tmp_path / "m.npz")


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = rlnn.save(_net(), tmp_path / "model.npz")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        rlnn.save(_net(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]
