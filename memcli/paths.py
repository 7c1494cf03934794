"""Where memcli keeps its files. Environment variables override platformdirs so tests and users can relocate."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "memcli"
ENV_DB = "MEMCLI_DB"
ENV_CACHE = "MEMCLI_CACHE_DIR"
ENV_EMBEDDER = "MEMCLI_EMBEDDER"


def default_db_path() -> Path:
    """The per-user database: $MEMCLI_DB, else the platformdirs data dir."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "memory.db"


def cache_dir() -> Path:
    """Model files (converted GGUFs, extracted weights): $MEMCLI_CACHE_DIR, else the platformdirs cache dir."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def state_dir() -> Path:
    """Logs and run status (cron's consolidate log, hook offsets): $MEMCLI_STATE_DIR, else the platformdirs state
    dir."""
    env = os.environ.get("MEMCLI_STATE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create a directory (and any missing parents) readable by the owner only; memories are personal.
    mkdir's mode applies to the leaf alone and is filtered by the umask, hence the explicit loop and chmod."""
    missing = []
    probe = Path(path)
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(0o700)
    return path


def make_private(path: Path) -> Path:
    """Owner-only permissions on a file memcli wrote."""
    path.chmod(0o600)
    return path
