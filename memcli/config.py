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


ENV = {"embedder": "MEMCLI_EMBEDDER", "generator": "MEMCLI_GENERATOR"}


def load() -> dict:
    path = config_path()
    try:
        if not path.is_file():
            return {}
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    bad = [k for k, v in data.items() if k in KEYS and not isinstance(v, str)]
    if bad:
        raise InputError(f"{path}: {', '.join(bad)} must be a string (a GGUF path or hf: spec)")
    return data


def model_spec(role: str, given: str | None = None) -> str | None:
    """Which model to use for `role`: the flag, else the environment variable, else this file, else None (the
    built-in default). The CLI and the MCP server (also started as `python -m memcli_mcp`) both ask here."""
    return given or os.environ.get(ENV[role]) or load().get(role)


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

    try:
        ensure_private_dir(path.parent)
        # Flat string keys only, so json.dumps gives valid TOML basic strings.
        path.write_text("".join(f"{k} = {json.dumps(str(v))}\n" for k, v in sorted(data.items())))
        path.chmod(0o600)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}") from None
    return path
