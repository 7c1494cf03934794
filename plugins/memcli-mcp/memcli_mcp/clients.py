"""`memcli mcp config CLIENT [--install]`: the MCP client's config entry for this memcli, printed or merged into
the client's config file.

Where each client reads its stdio servers (all JSON objects mapping a server name to {command, args, env}):

    claude-code     ./.mcp.json, key "mcpServers" - Claude Code's project scope, the file `claude mcp add --scope
                    project` writes (its local and user scopes live inside ~/.claude.json, Claude Code's own
                    state file, which memcli does not edit). Entries carry "type": "stdio".
    claude-desktop  claude_desktop_config.json, key "mcpServers": ~/Library/Application Support/Claude/ (macOS),
                    %APPDATA%\\Claude\\ (Windows), $XDG_CONFIG_HOME/Claude/ elsewhere.
    cursor          ~/.cursor/mcp.json, key "mcpServers" (global; a project's .cursor/mcp.json works with --file).
    vscode          ./.vscode/mcp.json, key "servers" (the workspace file), entries with "type": "stdio".

The entry runs this memcli by absolute path (the `memcli` script next to the running Python, as in a virtualenv,
else the one on PATH, else `python -m memcli`), so the client needs no PATH of its own, with the database's
absolute path in MEMCLI_DB (and an embedder or generator given by flag or environment, so the server uses the
model the database was built with). The agent's scope is pinned with --scope: the one(s) asked for, else the
project scope of the current directory when the config file is that project's (./.mcp.json, ./.vscode/mcp.json,
./.cursor/mcp.json), else the client's name: a user-wide file (Claude Desktop's, ~/.cursor/mcp.json) serves every
project, so it gets a namespace of its own unless --scope chooses one (--scope default shares the CLI's notes).

--install keeps every other entry and key, copies the old file to <name>.memcli-backup-<time> first, writes the
new one atomically (a temporary file renamed over it) with mode 0600, and changes nothing when the entry is
already there. A file that is not a JSON object (VS Code also allows comments, which this refuses) is left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memcli.errors import InputError, UsageError
from memcli.files import backup, loads, write_atomic

SERVER_NAME = "memcli"


def claude_desktop_path() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if os.name == "nt":
        appdata = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
        return Path(appdata) / "Claude" / "claude_desktop_config.json"
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "Claude" / "claude_desktop_config.json"


@dataclass(frozen=True)
class ClientSpec:
    key: str  # the object that maps server names to entries
    path: Callable[[], Path]  # the default config file
    typed: bool  # entries carry "type": "stdio"


CLIENTS: dict[str, ClientSpec] = {
    "claude-code": ClientSpec("mcpServers", lambda: Path.cwd() / ".mcp.json", True),
    "claude-desktop": ClientSpec("mcpServers", claude_desktop_path, False),
    "cursor": ClientSpec("mcpServers", lambda: Path.home() / ".cursor" / "mcp.json", False),
    "vscode": ClientSpec("servers", lambda: Path.cwd() / ".vscode" / "mcp.json", True),
}


@dataclass(frozen=True)
class Plan:
    client: str
    path: Path
    key: str
    entry: dict[str, Any]

    @property
    def text(self) -> str:
        return json.dumps({self.key: {SERVER_NAME: self.entry}}, indent=2, ensure_ascii=False) + "\n"


def memcli_command() -> list[str]:
    """This memcli, by absolute path: the script beside the running interpreter (a virtualenv's bin/ or Scripts/;
    not resolved, since a venv's python is a symlink out of the venv), else PATH's, else `python -m memcli`."""
    here = Path(sys.executable).absolute().parent
    for name in ("memcli", "memcli.exe"):
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which("memcli")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "memcli"]


def project_file(client: str, path: Path, cwd: Path) -> bool:
    """Whether `path` is a project's config file, the project being `cwd`: the file lies in it or in one of its
    dot-directories (./.mcp.json, ./.vscode/mcp.json, ./.cursor/mcp.json). Claude Desktop has no project files,
    and the home directory is no project (~/.cursor/mcp.json is Cursor's user-wide file)."""
    cwd = cwd.resolve()
    if client == "claude-desktop" or cwd == Path.home().resolve():
        return False
    parent = path.resolve().parent
    return parent == cwd or (parent.parent == cwd and parent.name.startswith("."))


def _model_value(value: str) -> str:
    """A model given as a file path is pinned by absolute path; a name ('hash', 'default') as it is."""
    if os.sep in value or "/" in value or value.endswith(".gguf") or value.startswith("~"):
        return str(Path(value).expanduser().resolve())
    return value


def snippet(client: str, *, db: str | os.PathLike[str] | None = None, scopes: Sequence[str] | None = None,
            file: str | os.PathLike[str] | None = None, models: Mapping[str, str | None] | None = None) -> Plan:
    from memcli.agents import project_scope
    from memcli.paths import database
    from memcli.validate import label

    spec = CLIENTS.get(client)
    if spec is None:
        raise UsageError(f"unknown client {client!r}; choose one of {', '.join(CLIENTS)}")
    path = (Path(file).expanduser() if file else spec.path()).absolute()
    chosen = list(dict.fromkeys(scopes or []))
    for s in chosen:
        problem = label(s)
        if problem:
            raise InputError(f"--scope {s[:40]!r} {problem}")
    if not chosen:
        chosen = [project_scope(Path.cwd()) if project_file(client, path, Path.cwd()) else client]
    command = memcli_command()
    where = database(os.fspath(db) if db is not None else None)  # a postgresql:// URL stays as it is
    if isinstance(where, str):
        from memcli.paths import refuse_password

        refuse_password(where, "a client's MCP settings")
    env = {"MEMCLI_DB": str(where.resolve()) if isinstance(where, Path) else where}
    env.update({k: _model_value(v) for k, v in (models or {}).items() if v})
    entry: dict[str, Any] = {"type": "stdio"} if spec.typed else {}
    entry.update(command=command[0], args=[*command[1:], "mcp", *[a for s in chosen for a in ("--scope", s)]],
                 env=env)
    return Plan(client, path, spec.key, entry)


def install(plan: Plan) -> str:
    """Merge the plan's entry into its file; a line saying what happened."""
    target = plan.path.resolve()  # through a symlink (dotfiles), so the link stays a link
    try:
        raw = target.read_bytes() if target.exists() else None
    except OSError as exc:
        raise InputError(f"{target}: cannot read: {exc.strerror}") from None
    data: Any = {}
    if raw is not None and raw.strip():
        try:
            data = loads(raw.decode("utf-8"), unique_keys=True)
        except (UnicodeDecodeError, ValueError) as exc:
            where = (f" (line {exc.lineno}: {exc.msg})" if isinstance(exc, json.JSONDecodeError)
                     else f" ({exc})" if isinstance(exc, ValueError) and not isinstance(exc, UnicodeDecodeError)
                     else "")
            raise InputError(f"{target}: not valid JSON{where}; fix it or add the entry by hand (memcli mcp config "
                             f"{plan.client}); nothing changed") from None
    if not isinstance(data, dict):
        raise InputError(f"{target}: not a JSON object; nothing changed")
    servers = data.get(plan.key, {})
    if not isinstance(servers, dict):
        raise InputError(f"{target}: {plan.key!r} is not a JSON object; nothing changed")
    if servers.get(SERVER_NAME) == plan.entry:
        return f"{target}: the memcli server is already installed; nothing changed"
    merged = {**data, plan.key: {**servers, SERVER_NAME: plan.entry}}
    text = json.dumps(merged, indent=2, ensure_ascii=False) + "\n"
    try:
        saved = backup(target, raw) if raw is not None else None
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text, durable=True)
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror or exc}") from None
    done = "updated" if SERVER_NAME in servers else "installed"
    return f"{target}: {done} the memcli server" + (f" (previous file kept as {saved})" if saved else "")


