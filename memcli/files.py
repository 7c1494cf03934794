"""Small files memcli writes or edits beside the database: written whole or not at all, owner-only, and JSON read
strictly. One place for what the config file, cron status, model stamps, hook offsets and the MCP and hooks
installers each did by hand."""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    """A JSON number a float holds: 1e400 would be written back as Infinity, which is not JSON."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large")
    return value


def _unique(pairs: list) -> dict:
    """A JSON object whose keys are unique: a file with a key twice is not rewritten with one of them."""
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return dict(pairs)


def loads(text: str, *, unique_keys: bool = False) -> Any:
    """json.loads that refuses what is not JSON but Python accepts (NaN, Infinity, numbers no float holds) and,
    with `unique_keys`, an object naming a key twice. Raises ValueError."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite,
                      object_pairs_hook=_unique if unique_keys else None)


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600, *, durable: bool = False) -> None:
    """`data` into `path` through a temporary file beside it, renamed over it: readers see the old file or the new
    one, never half of one, and never a moment readable by others. `durable` also fsyncs the file and the rename
    (settings files other programs own)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable and hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def backup(target: Path, raw: bytes) -> Path:
    """A copy of `raw` (what `target` held) as `<name>.memcli-backup-<YYYYmmddTHHMMSS>[-n]`, 0600."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    for n in range(1, 1000):
        candidate = target.with_name(f"{target.name}.memcli-backup-{stamp}" + (f"-{n}" if n > 1 else ""))
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        return candidate
    raise OSError(f"{target}: too many backups from this second")
