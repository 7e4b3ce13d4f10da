"""Saving and loading: plain arrays in one ``.npz`` plus JSON metadata, never pickle.

File layout (a standard numpy ``.npz``, i.e. an uncompressed zip of ``.npy`` files)::

    <name>.npy ...      one numeric array per entry (model weights: "0.weight", "0.bias", ...)
    __meta__.npy        uint8 bytes of a UTF-8 JSON object:
                        {"format": "rlnn", "format_version": 1, "kind": "model" | ...,
                         "architecture": {...}, ...}

Writes go to a temporary file in the destination folder, are flushed to disk, then renamed
over the destination, so a crash never leaves a half-written checkpoint under the real name;
the temporary file is removed on any error, and one left by a killed process is removed by the
next write to the same destination.

Reading trusts nothing in the file. The archive is read entry by entry with the standard
``zipfile`` module and a strict parser of the ``.npy`` header (no ``np.load``, no pickle, no
``eval``): every entry must be a stored (uncompressed) plain numeric array whose header
declares exactly the bytes the entry holds, so nothing is allocated before the file has shown
it holds the data (a header claiming 10^11 elements is refused, not allocated). The metadata is
bounded in size and nesting depth. A truncated, corrupt, foreign or mismatched file raises a
one-line ``ValueError`` naming it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .module import Module, Parameter, module_from_config

FORMAT = "rlnn"
FORMAT_VERSION = 1
_META_KEY = "__meta__"
MAX_META_BYTES = 4 << 20     # 4 MiB of JSON: the largest metadata written here is a few kB
MAX_META_DEPTH = 64          # containers nested in the metadata (ours: about 5)
_MAX_HEADER = 10_000         # bytes of a .npy header (numpy's own limit); ours are 64-128
_CHUNK = 1 << 20             # bytes read at a time
_NPY_MAGIC = b"\x93NUMPY"
_HEADER = re.compile(r"\{'descr': '([^']{1,32})', 'fortran_order': (True|False), 'shape': \(([0-9, ]{0,400})\), \}"
                     r"[ \n\x00]*")


# -- writing -----------------------------------------------------------------------------------

def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Atomically write ``arrays`` and the JSON-able ``meta`` to ``path`` (an ``.npz``).

    Refuses (``ValueError``) what :func:`load_arrays` would refuse, so a file written here is
    always readable: non-numeric arrays, a reserved or non-string name, and metadata beyond the
    size or nesting bounds."""
    path = Path(path)
    clean: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        if not isinstance(name, str) or not name or name == _META_KEY or "\x00" in name:
            raise ValueError(f"array name {name!r} is empty, reserved or not a string")
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf" or arr.dtype.fields is not None:
            raise ValueError(f"array {name!r} has dtype {arr.dtype}; only numeric arrays can be saved")
        clean[name] = arr
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    if _depth(header) > MAX_META_DEPTH:
        raise ValueError(f"metadata nests deeper than {MAX_META_DEPTH} levels")
    meta_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    if len(meta_bytes) > MAX_META_BYTES:
        raise ValueError(f"metadata is {len(meta_bytes)} bytes of JSON, more than the {MAX_META_BYTES} allowed")
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = _temp_prefix(path)
    _remove_stale_temps(path.parent, prefix)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **clean, **{_META_KEY: np.frombuffer(meta_bytes, dtype=np.uint8)})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; give it a normal file's mode
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)
    return path


def _temp_prefix(path: Path) -> str:
    """Temporary files of ``path`` are ``.<name>.<host>.<pid>.<random>.tmp``: the host and pid
    tell a later writer whether the process that made one is gone (killed mid-write)."""
    return f".{path.name}.{socket.gethostname()}."


def _remove_stale_temps(folder: Path, prefix: str) -> None:
    """Delete temporary files of the same destination left by dead processes of this host."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return
    for name in names:
        pid = name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                os.unlink(folder / name)
            except OSError:
                pass    # another writer removed it first


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True     # exists (another user's) or cannot tell: leave its file alone
    return True


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (a power cut right after must not bring the old file back)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# -- reading -----------------------------------------------------------------------------------

def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`: ``(arrays, meta)``. Never unpickles.

    ``FileNotFoundError`` if there is no such file; anything else wrong with it is a one-line
    ``ValueError`` that starts with the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
            raise ValueError(f"{path}: holds a single .npy array, not an rlnn .npz checkpoint")
        f.seek(0)
        try:
            arrays = _read_archive(f, size)
        except _Refused as exc:
            raise ValueError(f"{path}: {exc}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
                NotImplementedError, RuntimeError, OverflowError) as exc:
            raise ValueError(f"{path}: not a readable rlnn .npz file (truncated, corrupt or foreign): "
                             f"{_one_line(exc)}") from None
    if _META_KEY not in arrays:
        raise ValueError(f"{path}: not an rlnn file (no {_META_KEY} entry)")
    meta = _parse_meta(arrays.pop(_META_KEY), path)
    return arrays, meta


class _Refused(Exception):
    """A file that reads but breaks a rule of the format (its message says which)."""


def _read_archive(f: Any, size: int) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(f) as archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise _Refused("the archive lists an entry twice")
        if sum(info.file_size for info in infos) > size:
            raise _Refused("its entries claim more bytes than the file holds")
        arrays: dict[str, np.ndarray] = {}
        for info in infos:
            name = info.filename
            if not name.endswith(".npy"):
                raise _Refused(f"entry {name[:80]!r} is not a .npy array")
            if info.flag_bits & 0x1:
                raise _Refused(f"entry {name[:80]!r} is encrypted")
            if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                raise _Refused(f"entry {name[:80]!r} is compressed; rlnn files store their arrays uncompressed")
            if info.header_offset + info.compress_size > size:
                raise _Refused(f"entry {name[:80]!r} is truncated (it ends past the end of the file)")
            key = name[:-len(".npy")]
            with archive.open(info) as entry:
                arrays[key] = _read_npy(entry, info.file_size, key, is_meta=key == _META_KEY)
    return arrays


def _read_npy(entry: Any, entry_size: int, key: str, is_meta: bool) -> np.ndarray:
    """One ``.npy`` entry, checked against the ``entry_size`` bytes the archive gives it."""
    shown = repr(key[:80])
    lead = entry.read(len(_NPY_MAGIC) + 2)
    if len(lead) != len(_NPY_MAGIC) + 2 or lead[:len(_NPY_MAGIC)] != _NPY_MAGIC:
        raise _Refused(f"entry {shown} is not a .npy array")
    major = lead[len(_NPY_MAGIC)]
    if major not in (1, 2):
        raise _Refused(f"entry {shown} has unsupported .npy format version {major}")
    width = 2 if major == 1 else 4
    raw_len = entry.read(width)
    if len(raw_len) != width:
        raise _Refused(f"entry {shown} is truncated")
    header_len = int.from_bytes(raw_len, "little")
    start = len(lead) + width + header_len
    if header_len > _MAX_HEADER or start > entry_size:
        raise _Refused(f"entry {shown} has a malformed header")
    header = entry.read(header_len).decode("latin1")
    dtype, fortran, shape = _parse_header(header, shown)
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    if start + nbytes != entry_size:
        raise _Refused(f"entry {shown} declares shape {shape} of {dtype} ({nbytes} bytes) but holds "
                       f"{entry_size - start} bytes")
    if is_meta and (dtype != np.uint8 or len(shape) != 1 or nbytes > MAX_META_BYTES):
        raise _Refused(f"metadata must be at most {MAX_META_BYTES} bytes of uint8, got shape {shape} of {dtype}")
    buffer = bytearray(nbytes)
    view = memoryview(buffer)
    done = 0
    while done < nbytes:
        chunk = entry.read(min(_CHUNK, nbytes - done))
        if not chunk:
            raise _Refused(f"entry {shown} is truncated")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    if entry.read(1):    # reading to the end also makes zipfile check the entry's CRC
        raise _Refused(f"entry {shown} holds more bytes than its header declares")
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _parse_header(header: str, shown: str) -> tuple[np.dtype, bool, tuple[int, ...]]:
    match = _HEADER.fullmatch(header)
    if match is None:
        if "'O'" in header or "|O" in header:
            raise _Refused(f"entry {shown} is an object array; rlnn files hold plain numeric arrays "
                           "and are never unpickled")
        raise _Refused(f"entry {shown} has a .npy header this reader does not accept: {header[:80]!r}")
    descr, fortran, dims = match.groups()
    if "O" in descr:
        raise _Refused(f"entry {shown} is an object array; rlnn files hold plain numeric arrays "
                       "and are never unpickled")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError):
        raise _Refused(f"entry {shown} has an unknown dtype {descr!r}") from None
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise _Refused(f"entry {shown} has dtype {dtype}; rlnn files hold plain numeric arrays")
    parts = [p.strip() for p in dims.split(",")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts.pop()              # "(3,)" and "(3, 4)" but not "(,)"
    if parts == [""]:
        parts = []
    if len(parts) > 32 or not all(p.isdigit() and len(p) <= 19 for p in parts):
        raise _Refused(f"entry {shown} has a malformed shape ({dims[:40]})")
    return dtype, fortran == "True", tuple(int(p) for p in parts)


def _parse_meta(raw: np.ndarray, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError:
        raise ValueError(f"{path}: metadata nests deeper than {MAX_META_DEPTH} levels") from None
    except ValueError as exc:     # invalid UTF-8 or JSON, an integer of too many digits
        raise ValueError(f"{path}: metadata is not valid JSON: {_one_line(exc)}") from None
    if _depth(meta) > MAX_META_DEPTH:
        raise ValueError(f"{path}: metadata nests deeper than {MAX_META_DEPTH} levels")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path}: foreign file (format {str(found)[:40]!r}, expected {FORMAT!r})")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"{path}: metadata has no integer format_version (got {str(version)[:40]!r})")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer rlnn (format version {version}, "
                         f"this one reads up to {FORMAT_VERSION})")
    return meta


def _depth(obj: Any) -> int:
    """How deeply lists and dicts nest in ``obj``, counted without recursion and stopping once
    past :data:`MAX_META_DEPTH` (so a cycle or a pathological structure ends quickly)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            deepest = max(deepest, depth)
            if deepest > MAX_META_DEPTH:
                break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# -- models ------------------------------------------------------------------------------------

def save(model: Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Save a module's weights and architecture; :func:`load` rebuilds it."""
    meta = {"kind": "model", "architecture": model.config(), "metadata": metadata or {}}
    return save_arrays(path, model.state_dict(), meta)


def load(path: str | os.PathLike) -> Module:
    """Rebuild a module saved by :func:`save`. Shapes and dtypes must match the recorded
    architecture exactly (a file never silently changes precision), values must be finite, and
    the architecture may not describe more parameters than the file holds (it is checked before
    the module is built, so a forged architecture allocates nothing)."""
    arrays, meta = load_arrays(path)
    if meta.get("kind") != "model" or "architecture" not in meta:
        raise ValueError(f"{path}: an rlnn file of kind {str(meta.get('kind'))[:40]!r}, not a saved model")
    architecture = meta["architecture"]
    declared = _parameter_count(architecture)
    held = sum(int(a.size) for a in arrays.values())
    if declared is not None and declared > held:   # cannot match: refused before building anything
        raise ValueError(f"{path}: the architecture has {declared} parameters but the file holds only {held} values")
    try:
        model = module_from_config(architecture)
    except (TypeError, KeyError, ValueError, AttributeError, OverflowError) as exc:
        raise ValueError(f"{path}: architecture metadata is malformed: {_one_line(exc)}") from None
    for name, p in [*model.named_parameters(), *model.named_buffers()]:
        if name in arrays and arrays[name].dtype != p.dtype:
            raise ValueError(f"{path}: entry {name!r} is {arrays[name].dtype}, the architecture's "
                             f"{'parameters are' if isinstance(p, Parameter) else 'buffer is'} {p.dtype}")
    try:
        model.load_state_dict(arrays)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return model


def _parameter_count(config: Any) -> int | None:
    """The number of parameter values a module config describes, for the layer types of this
    package; ``None`` when it holds a type of someone else's (then only the load checks).
    Malformed configs count as ``None`` too: :func:`module_from_config` names their problem."""
    total, stack = 0, [config]
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            return None
        kind = item.get("type")
        if kind == "Linear":
            n_in, n_out = item.get("in_features"), item.get("out_features")
            if not (_is_count(n_in) and _is_count(n_out)):
                return None
            total += n_in * n_out + (n_out if item.get("bias", True) else 0)
        elif kind == "MLP":
            sizes = item.get("sizes")
            if not isinstance(sizes, list) or len(sizes) < 2 or not all(map(_is_count, sizes)):
                return None
            total += sum(a * b + b for a, b in zip(sizes, sizes[1:]))
            if item.get("norm") is not None:     # a scale and a shift per normalized feature
                total += 2 * sum(sizes[:-1] if item.get("norm_before") == "linear" else sizes[1:-1])
        elif kind in ("BatchNorm", "LayerNorm"):
            if not _is_count(item.get("features")):
                return None
            total += 2 * item["features"]
        elif kind == "Sequential":
            layers = item.get("layers")
            if not isinstance(layers, list):
                return None
            stack.extend(layers)
        elif kind not in ("Identity", "Step", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax", "Dropout"):
            return None
    return total


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
