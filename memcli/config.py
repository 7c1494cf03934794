"""User configuration: a flat TOML file in the platformdirs config dir ($MEMCLI_CONFIG overrides the path).

Precedence: command-line flag > environment variable > this file > built-in default.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from .errors import InputError

KEYS = {"embedder": "GGUF path (or hf:OWNER/REPO/FILE.gguf) of the embedding model",
        "generator": "GGUF path (or hf:OWNER/REPO/FILE.gguf) of the generator model"}


def config_path() -> Path:
    env = os.environ.get("MEMCLI_CONFIG")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("memcli", appauthor=False)) / "config.toml"


def load() -> dict:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None


def set_value(key: str, value: str | None) -> Path:
    if key not in KEYS:
        raise InputError(f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    data = load()
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value
    path = config_path()
    from .paths import ensure_private_dir

    ensure_private_dir(path.parent)
    # Flat string keys only, so json.dumps gives valid TOML basic strings.
    path.write_text("".join(f"{k} = {json.dumps(str(v))}\n" for k, v in sorted(data.items())))
    path.chmod(0o600)
    return path
