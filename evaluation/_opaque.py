"""Opaque row ids for the agent's test inputs: stable, but they reveal neither the split nor the row."""

import hashlib
import hmac
import re
from pathlib import Path

_HEX_CHARS = 10
# An id that is a file name (`1000015157.jpg`) keeps its extension, so the agent can open the file.
_FILE_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{1,4}$")


def opaque_key(split_seed: int, hidden_file: Path, purpose: str = "aira-hce-opaque") -> bytes:
    """A key from the split seed and the bytes of a file the agent never sees.

    The seed alone would not do: it sits in the config, and with it an agent could recompute which
    opaque id belongs to which split. The hidden answers make the key unguessable yet reproducible.
    """
    digest = hashlib.sha256(f"{purpose}\x00{split_seed}\x00".encode())
    with hidden_file.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


def split_key(split_seed: int, hidden_file: Path) -> bytes:
    """The key of the group split: like `opaque_key`, from the seed and the hidden answers, under a
    label of its own so that the two keys are independent."""
    return opaque_key(split_seed, hidden_file, purpose="aira-hce-group-split")


def opaque_ids(key: bytes, rows: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """`r` + 10 hex chars per (split, original id), from an HMAC of both under `key`, plus the id's
    file extension when it has one (every id of a column of file names has the same few).

    The rare collision is resolved by rehashing with a counter, visiting rows in sorted order, so the
    result depends only on the key and the set of rows.
    """
    used: set[str] = set()
    result: dict[tuple[str, str], str] = {}
    for split, row_id in sorted(rows):
        attempt = 0
        while True:
            message = f"{split}\x00{row_id}\x00{attempt}".encode()
            extension = _FILE_EXTENSION.search(row_id)
            candidate = "r" + hmac.new(key, message, hashlib.sha256).hexdigest()[:_HEX_CHARS]
            candidate += extension.group(0) if extension else ""
            if candidate not in used:
                break
            attempt += 1
        used.add(candidate)
        result[(split, row_id)] = candidate
    return result
