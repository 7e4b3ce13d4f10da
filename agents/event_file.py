"""TensorBoard event files, written by hand from the format (no TensorFlow, no tensorboard needed
to write them; TensorBoard reads them).

An event file is a sequence of TFRecords, little endian::

    uint64 length | uint32 masked_crc32c(length bytes) | data[length] | uint32 masked_crc32c(data)

with ``masked(c) = ((c >> 15) | (c << 17)) + 0xA282EAD8 (mod 2^32)`` of CRC-32C (Castagnoli,
reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF). Each ``data`` is a serialized
``tensorflow.Event`` protobuf; the fields used here::

    Event      { double wall_time = 1; int64 step = 2; string file_version = 3;
                 Summary summary = 5; SessionLog session_log = 7; }
    Summary    { repeated Value value = 1; }
    Value      { string tag = 1; float simple_value = 2; }
    SessionLog { Status status = 1; }            // START = 1

Protobuf's wire format: each field is a key ``varint(field_number << 3 | wire_type)`` and then its
value: wire type 0 a varint (7 bits a byte, low first, high bit = more), 1 eight bytes, 2 a varint
length and the bytes (strings, nested messages), 5 four bytes.

A file starts with an event of ``file_version = "brain.Event:2"``. A resumed run starts a new file
with a ``SessionLog.START`` event at the step after its checkpoint: TensorBoard then drops the
older files' events from that step on (those the interrupted run logged past its checkpoint, the
ones a resumed ``metrics.csv`` drops too).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

FILE_PREFIX = "events.out.tfevents."


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        c = byte
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (``crc32c(b"123456789") == 0xE3069283``)."""
    c = 0xFFFFFFFF
    for byte in data:
        c = _CRC_TABLE[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


# -- protobuf ----------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64          # int64 as protobuf sends it: two's complement, ten bytes
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _value(tag: str, simple_value: float) -> bytes:
    return _bytes_field(1, tag.encode()) + _key(2, 5) + struct.pack("<f", simple_value)


def event(step: int, *, wall_time: float | None = None, scalars: dict[str, float] | None = None,
          file_version: str | None = None, session_start: bool = False) -> bytes:
    """One serialized ``Event``: scalars as a ``Summary`` of ``simple_value`` s, or a file
    version, or a ``SessionLog.START``."""
    out = _key(1, 1) + struct.pack("<d", time.time() if wall_time is None else wall_time)
    out += _key(2, 0) + _varint(int(step))
    if file_version is not None:
        out += _bytes_field(3, file_version.encode())
    if scalars:
        out += _bytes_field(5, b"".join(_bytes_field(1, _value(tag, v)) for tag, v in scalars.items()))
    if session_start:
        out += _bytes_field(7, _key(1, 0) + _varint(1))
    return out


class EventFileWriter:
    """Appends events to a new file in ``folder``, named to sort after the files already there
    (TensorBoard reads a folder's event files in name order). Each event is one ``write`` call."""

    def __init__(self, folder: str | Path, start_step: int | None = None) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        existing = [p.name[len(FILE_PREFIX):].split(".")[0] for p in folder.glob(FILE_PREFIX + "*")]
        # Seconds since the epoch, then a count of the files before: a clock set back (or two files
        # in one second) must not sort this file before an older one.
        stamp = max([int(time.time()), *(int(s) for s in existing if s.isdigit())])
        self.path = folder / f"{FILE_PREFIX}{stamp:010d}.{len(existing):04d}.rlnn"
        self._append(event(0 if start_step is None else start_step, file_version="brain.Event:2"))
        if start_step is not None:
            self._append(event(start_step, session_start=True))

    def _append(self, data: bytes) -> None:
        with self.path.open("ab") as f:
            f.write(record(data))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One event at ``step`` holding every scalar of ``values`` (tag -> value)."""
        if values:
            self._append(event(step, scalars=values))
