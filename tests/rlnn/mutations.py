"""Random mutations of a valid ``.npz`` checkpoint, for fuzz tests of its readers (issue 17).

Each mutation is one of :data:`KINDS`: bytes flipped, the file truncated, zip entries renamed,
added or removed, the JSON metadata edited, a ``.npy`` header edited, an array's values
replaced, or the archive recompressed. :func:`fuzz` applies thousands of them, each to a fresh
copy of the valid file, hands each result to a reader, and sorts the outcomes into
``right`` (loaded and checked faithful by the caller), ``error`` (a one-line ``ValueError``)
and ``bad`` (anything else: another exception, a message of several lines, a module imported,
more memory allocated than the file justifies, or a load the caller's check rejects).
"""

from __future__ import annotations

import io
import json
import sys
import tracemalloc
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("flip", "truncate", "rename", "add", "remove", "meta", "header", "values", "compress")

NASTY = [None, True, False, 0, -1, 1, 2**63, 10**30, -10**30, 1e308, float("nan"), float("inf"), -float("inf"),
         0.5, "", "x", "evilmod:CartPole-v1", "\x1b[31mred\x1b[0m", "a" * 5000, [], {}, [1, 2.5, "z"],
         {"type": "Box"}, [[[[[[[]]]]]]], "CartPole-v1", "rlnn/Walker-v0", [10**6, 10**6], 1e-300]


def entries(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(info.filename, z.read(info)) for info in z.infolist()]


def archive(items: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", compression=compression) as z:
        warnings.simplefilter("ignore")      # a duplicate name is one of the mutations
        for name, payload in items:
            z.writestr(zipfile.ZipInfo(name), payload, compress_type=compression)
    return buf.getvalue()


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _random_value(rng: np.random.Generator) -> Any:
    return NASTY[int(rng.integers(len(NASTY)))]


def _edit_json(meta: Any, rng: np.random.Generator) -> Any:
    """Change one randomly chosen place of the metadata tree."""
    paths: list[tuple[Any, Any]] = []          # (container, key) pairs
    stack = [meta]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            paths.append((node, key))
            stack.append(node[key])
    node, key = paths[int(rng.integers(len(paths)))]
    old = node[key]
    op = int(rng.integers(6))
    if op == 0 and isinstance(node, dict):
        del node[key]
    elif op == 1 and isinstance(old, (int, float)) and not isinstance(old, bool):
        node[key] = old * float(10.0 ** int(rng.integers(-3, 12))) * (-1 if rng.random() < 0.3 else 1)
        if isinstance(old, int) and rng.random() < 0.5 and abs(node[key]) < 1e18:
            node[key] = int(node[key])
    elif op == 2 and isinstance(node, dict):
        node["injected_" + str(int(rng.integers(1000)))] = _random_value(rng)
    elif op == 3:
        deep: Any = 0
        for _ in range(int(rng.integers(1, 200))):
            deep = [deep]
        node[key] = deep
    else:
        node[key] = _random_value(rng)
    return meta


def mutate(data: bytes, rng: np.random.Generator,
           parsed: list[tuple[str, bytes]] | None = None) -> tuple[str, bytes]:
    """One random mutation of the valid archive ``data`` (``parsed``: its :func:`entries`, to
    save reading it again): ``(kind, mutated bytes)``."""
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(int(rng.integers(1, 5))):
            out[int(rng.integers(len(out)))] ^= int(rng.integers(1, 256))
        return kind, bytes(out)
    if kind == "truncate":
        return kind, data[: int(rng.integers(len(data)))]
    items = list(parsed) if parsed is not None else entries(data)
    i = int(rng.integers(len(items)))
    name, payload = items[i]
    if kind == "rename":
        other = items[int(rng.integers(len(items)))][0]
        choice = int(rng.integers(4))
        new = (other if choice == 0 else name[:-4] if choice == 1 else "../" + name if choice == 2
               else name[:-5] + chr(int(rng.integers(32, 127))) + ".npy")
        items[i] = (new, payload)
    elif kind == "add":
        choice = int(rng.integers(4))
        if choice == 0:
            extra = npy(np.array([{"pickled": True}], dtype=object))
        elif choice == 1:
            header = "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000000,), }"
            header += " " * (118 - len(header)) + "\n"
            extra = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)
        elif choice == 2:
            extra = b"print('imported')\n"
        else:
            extra = npy(rng.standard_normal(int(rng.integers(1, 20))).astype(rng.choice(["f4", "f8", "i8"])))
        prefix = name.split("/", 1)[0] + "/" if "/" in name and rng.random() < 0.5 else ""
        items.append((prefix + f"extra{int(rng.integers(100))}" + (".npy" if choice != 2 else ".py"), extra))
    elif kind == "remove":
        del items[i]
    elif kind == "meta":
        meta_index = next(j for j, (n, _) in enumerate(items) if n == "__meta__.npy")
        raw = np.load(io.BytesIO(items[meta_index][1]))
        meta = _edit_json(json.loads(raw.tobytes()), rng)
        items[meta_index] = ("__meta__.npy", npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)))
    elif kind == "header":
        end = payload.index(b"\n") + 1
        header = bytearray(payload[10:end])
        for _ in range(int(rng.integers(1, 3))):
            j = int(rng.integers(len(header)))
            header[j] = int(rng.choice(list(b"0123456789,() '<>|fiuObcUV")))
        items[i] = (name, payload[:10] + bytes(header) + payload[end:])
    elif kind == "values":
        arr = np.load(io.BytesIO(payload))
        choice = int(rng.integers(5))
        if choice == 0 and arr.dtype.kind == "f" and arr.size:
            arr = arr.copy()
            arr.flat[int(rng.integers(arr.size))] = rng.choice([np.nan, np.inf, -np.inf])
        elif choice == 1:
            arr = np.full(arr.shape, 1e300)
        elif choice == 2:
            arr = arr.astype(rng.choice(["f8", "f4", "f2", "i4", "u1", "?", ">f4"]))
        elif choice == 3:
            arr = np.zeros(tuple(int(d) for d in rng.integers(0, 5, size=int(rng.integers(0, 3)))))
        else:
            arr = np.asfortranarray(arr.reshape(arr.shape[::-1])) if arr.ndim == 2 else (arr[::-1].copy() if arr.ndim else arr)
        items[i] = (name, npy(arr))
    else:   # "compress"
        return kind, archive(items, zipfile.ZIP_DEFLATED)
    return kind, archive(items)


def fuzz(valid: bytes, tries: int, read: Callable[[Path], Any], verify: Callable[[Any, Path], bool], folder: Path,
         seed: int = 0, memory_limit: int = 64 << 20, memory_every: int = 20) -> tuple[Counter, list[str]]:
    """Apply ``tries`` random mutations to ``valid``, each read by ``read(path)``.

    A read that returns is passed to ``verify(result, path)`` (``True``: the result is what the
    file says).
    Returns the outcome counts by ``(kind, outcome)`` and a description of every bad try.
    Every ``memory_every``-th try runs under ``tracemalloc``: its peak must stay below
    ``memory_limit`` bytes. No module may be imported by any try (checked after a warm-up)."""
    rng = np.random.default_rng(seed)
    path = folder / "mutated.npz"
    counts: Counter = Counter()
    bad: list[str] = []
    warm = [mutate(valid, np.random.default_rng(s)) for s in range(60)]   # lazy imports of the readers
    for _, data in warm:
        path.write_bytes(data)
        try:
            read(path)
        except Exception:   # noqa: BLE001,S110 (the warm-up only loads modules)
            pass
    modules = set(sys.modules)
    parsed = entries(valid)
    for n in range(tries):
        kind, data = mutate(valid, rng, parsed)
        path.write_bytes(data)
        measure = n % memory_every == 0
        if measure:
            tracemalloc.start()
        outcome, note = "bad", ""
        try:
            result = read(path)
        except ValueError as exc:
            text = str(exc)
            one_line = text and "\n" not in text and len(text) < 600
            outcome, note = ("error", "") if one_line else ("bad", f"message {text[:300]!r}")
        except Exception as exc:    # noqa: BLE001 (any other exception is what the test is after)
            note = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            try:
                outcome = "right" if verify(result, path) else "bad"
                note = "" if outcome == "right" else "loaded but not faithful to the file"
            except Exception as exc:    # noqa: BLE001
                note = f"loaded, then {type(exc).__name__}: {str(exc)[:200]}"
        if measure:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            if peak > memory_limit:
                outcome, note = "bad", f"allocated {peak} bytes for a {len(data)}-byte file"
        new = set(sys.modules) - modules
        if new:
            outcome, note = "bad", f"imported {sorted(new)}"
            modules |= new
        counts[(kind, outcome)] += 1
        if outcome == "bad":
            bad.append(f"try {n} ({kind}): {note}")
    return counts, bad


def table(counts: Counter) -> str:
    """The outcome counts as a Markdown table, one row per kind."""
    lines = ["| kind | right behaviour | clear one-line error | bad |", "|---|---|---|---|"]
    for kind in KINDS:
        lines.append(f"| {kind} | {counts[(kind, 'right')]} | {counts[(kind, 'error')]} | {counts[(kind, 'bad')]} |")
    total = [sum(v for (_, o), v in counts.items() if o == outcome) for outcome in ("right", "error", "bad")]
    lines.append(f"| **all** | {total[0]} | {total[1]} | {total[2]} |")
    return "\n".join(lines)
