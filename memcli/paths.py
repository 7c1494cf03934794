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


def ensure_private_dir(path: Path) -> Path:
    """Create a directory readable by the owner only; memories are personal."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
