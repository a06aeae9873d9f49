"""Reads an offline W&B run file (`run-<id>.wandb`) back: W&B's record log, for tests.

The file is a LevelDB-style log: a 7-byte header (":W&B", magic 0xBEE1, version 0), then 32 KiB
blocks of chunks (CRC32, length, type: full, first, middle, last), each record a protobuf `Record`.
The wandb package of this version ships no Python reader for it.
"""

import json
import struct
import time
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[Any]:
    """Every record of the file, as wandb's protobuf `Record` messages."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B record log"
    pos, out, pending = HEADER, [], b""
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # the block's tail is padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        if len(chunk) < length:  # a chunk still being written
            break
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            rec = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            rec.ParseFromString(pending)
            out.append(rec)
            pending = b""
    return out


def _key(item: Any) -> str:
    return str(item.key or "/".join(item.nested_key))


def history(path: Path) -> list[dict[str, Any]]:
    """The run's history rows (one per `run.log` call), values decoded from their JSON."""
    rows = []
    for rec in records(path):
        if rec.WhichOneof("record_type") == "history":
            rows.append(
                {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item}
            )
    return rows


def summary(path: Path) -> dict[str, Any]:
    """The last value of each summary key the run wrote."""
    out: dict[str, Any] = {}
    for rec in records(path):
        if rec.WhichOneof("record_type") == "summary":
            for i in rec.summary.update:
                out[_key(i)] = json.loads(i.value_json)
    return out


def run_file(root: Path, timeout_s: float = 30.0) -> Path:
    """The one offline run file under `root` (a run directory), once W&B's service has closed it.

    wandb-core writes the file in its own process and may still be at it when `finish()` returns.
    """
    found = sorted(root.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(found) == 1, f"expected one offline W&B run under {root}, found {found}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        kinds = [r.WhichOneof("record_type") for r in records(found[0])]
        if "exit" in kinds and records(found[0]) == records(found[0]):
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{found[0]} was not closed within {timeout_s} s")
