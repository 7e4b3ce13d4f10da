"""Saving and loading: plain arrays in one ``.npz`` plus JSON metadata, never pickle.

File layout (a standard numpy ``.npz``, i.e. a zip of ``.npy`` files)::

    <name>.npy ...      one numeric array per entry (model weights: "0.weight", "0.bias", ...)
    __meta__.npy        uint8 bytes of a UTF-8 JSON object:
                        {"format": "rlnn", "format_version": 1, "kind": "model" | ...,
                         "architecture": {...}, ...}

Writes go to a temporary file in the destination folder, are flushed to disk, then renamed
over the destination, so a crash never leaves a half-written checkpoint under the real name.
Loads use ``allow_pickle=False``; a truncated, foreign or mismatched file raises ``ValueError``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .module import Module, module_from_config

FORMAT = "rlnn"
FORMAT_VERSION = 1
_META_KEY = "__meta__"


def save_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Path:
    """Atomically write ``arrays`` and the JSON-able ``meta`` to ``path`` (an ``.npz``)."""
    path = Path(path)
    clean: dict[str, np.ndarray] = {}
    for name, arr in arrays.items():
        if name == _META_KEY:
            raise ValueError(f"array name {_META_KEY!r} is reserved")
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} has dtype {arr.dtype}; only numeric arrays can be saved")
        clean[name] = arr
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    meta_bytes = np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **clean, **{_META_KEY: meta_bytes})
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; give it a normal file's mode
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_arrays`: ``(arrays, meta)``. Never unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable rlnn .npz file (truncated, corrupt or foreign): {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        # A bad file is a ValueError (the documented contract), not a TypeError of an argument.
        raise ValueError(f"{path}: holds a single .npy array, not an rlnn .npz checkpoint")  # noqa: TRY004
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as exc:
                if "pickle" in str(exc) or "Object arrays" in str(exc):
                    raise ValueError(f"{path}: entry {name!r} is an object array; rlnn files hold plain "
                                     "numeric arrays and are never unpickled") from None
                raise ValueError(f"{path}: entry {name!r} is unreadable: {exc}") from None
            except (OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ValueError(f"{path}: entry {name!r} is truncated or corrupt: {exc}") from None
    if _META_KEY not in arrays:
        raise ValueError(f"{path}: not an rlnn file (no {_META_KEY} entry)")
    try:
        meta = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: metadata is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: foreign file (format {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                         f"expected {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise ValueError(f"{path}: metadata has no integer format_version (got {version!r})")  # noqa: TRY004
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer rlnn (format version {version}, "
                         f"this one reads up to {FORMAT_VERSION})")
    return arrays, meta


def save(model: Module, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Save a module's weights and architecture; :func:`load` rebuilds it."""
    meta = {"kind": "model", "architecture": model.config(), "metadata": metadata or {}}
    return save_arrays(path, model.state_dict(), meta)


def load(path: str | os.PathLike) -> Module:
    """Rebuild a module saved by :func:`save`. Shapes must match the recorded architecture."""
    arrays, meta = load_arrays(path)
    if meta.get("kind") != "model" or "architecture" not in meta:
        raise ValueError(f"{path}: an rlnn file of kind {meta.get('kind')!r}, not a saved model")
    try:
        model = module_from_config(meta["architecture"])
    except (TypeError, KeyError) as exc:
        raise ValueError(f"{path}: architecture metadata is malformed: {exc}") from None
    try:
        model.load_state_dict(arrays)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return model
