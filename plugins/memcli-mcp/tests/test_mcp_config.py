"""`memcli mcp config CLIENT [--install]`: the printed entries, and --install's merge on temporary files (other
servers kept, a backup first, 0600, idempotent), and a client starting the server from the installed entry."""

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from memcli.agents import project_scope


def _memcli(tmp_path, *args, cwd=None):
    env = {**os.environ, "HOME": str(tmp_path / "home"), "MEMCLI_EMBEDDER": "hash"}
    for name in ("MEMCLI_DB", "MEMCLI_AGENT_SCOPES", "MEMCLI_GENERATOR", "APPDATA", "XDG_CONFIG_HOME"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "memcli", "--db", str(tmp_path / "data" / "m.db"), "mcp",
                           "config", *args], env=env, cwd=cwd or tmp_path, capture_output=True, text=True,
                          timeout=120)


def test_config_prints_each_clients_entry_with_absolute_paths(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (tmp_path / "home").mkdir()
    entries = {}
    for client in ("claude-code", "claude-desktop", "cursor", "vscode"):
        r = _memcli(tmp_path, client, cwd=project)
        assert r.returncode == 0, r.stderr
        key = "servers" if client == "vscode" else "mcpServers"
        entries[client] = entry = json.loads(r.stdout)[key]["memcli"]
        command = Path(entry["command"])
        assert command.is_absolute() and command.is_file() and os.access(command, os.X_OK)
        assert entry["args"][-3:-1] == ["mcp", "--scope"]
        assert entry["env"] == {"MEMCLI_DB": str((tmp_path / "data" / "m.db").resolve()), "MEMCLI_EMBEDDER": "hash"}
        assert ("type" in entry) == (client in ("claude-code", "vscode"))
        assert "add this to" in r.stderr
    # a project file pins the project's scope; a user-wide file the client's name
    assert entries["claude-code"]["args"][-1] == entries["vscode"]["args"][-1] == project_scope(project)
    assert entries["claude-desktop"]["args"][-1] == "claude-desktop" and entries["cursor"]["args"][-1] == "cursor"
    assert "/.cursor/mcp.json" in _memcli(tmp_path, "cursor", cwd=project).stderr
    in_project = _memcli(tmp_path, "cursor", "--file", str(project / ".cursor" / "mcp.json"), cwd=project)
    assert json.loads(in_project.stdout)["mcpServers"]["memcli"]["args"][-1] == project_scope(project)
    picked = json.loads(_memcli(tmp_path, "cursor", "--scope", "work", "-s", "shared").stdout)
    assert picked["mcpServers"]["memcli"]["args"][-4:] == ["--scope", "work", "--scope", "shared"]
    bad = _memcli(tmp_path, "cursor", "--scope", "bad\x1bscope")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--scope" in bad.stderr
    unknown = _memcli(tmp_path, "emacs")
    assert unknown.returncode == 2 and "emacs" in unknown.stderr


def test_install_merges_backs_up_and_is_idempotent(tmp_path):
    (tmp_path / "home").mkdir()
    config = tmp_path / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir()
    original = {"mcpServers": {"other": {"command": "/usr/bin/other", "args": ["serve"]}}, "globalShortcut": "x"}
    config.write_text(json.dumps(original, indent=4))
    config.chmod(0o644)
    before = config.read_bytes()

    first = _memcli(tmp_path, "claude-desktop", "--install", "--file", str(config))
    assert first.returncode == 0, first.stderr
    assert "installed the memcli server" in first.stdout
    data = json.loads(config.read_text())
    assert data["mcpServers"]["other"] == original["mcpServers"]["other"] and data["globalShortcut"] == "x"
    assert data["mcpServers"]["memcli"]["args"][-2:] == ["--scope", "claude-desktop"]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    backups = sorted(config.parent.glob("claude_desktop_config.json.memcli-backup-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == before
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert not list(config.parent.glob(".*.tmp"))  # the atomic write left no temporary file

    after_first = config.read_bytes()
    second = _memcli(tmp_path, "claude-desktop", "--install", "--file", str(config))
    assert second.returncode == 0 and "already installed; nothing changed" in second.stdout
    assert config.read_bytes() == after_first and len(list(config.parent.glob("*.memcli-backup-*"))) == 1

    moved = _memcli(tmp_path, "claude-desktop", "--install", "--file", str(config), "--scope", "default")
    assert moved.returncode == 0 and "updated the memcli server" in moved.stdout
    assert json.loads(config.read_text())["mcpServers"]["memcli"]["args"][-2:] == ["--scope", "default"]
    assert len(list(config.parent.glob("*.memcli-backup-*"))) == 2


def test_install_creates_a_new_file_and_leaves_a_broken_one_alone(tmp_path):
    (tmp_path / "home").mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    made = _memcli(tmp_path, "vscode", "--install", cwd=project)  # the default file: ./.vscode/mcp.json
    target = project / ".vscode" / "mcp.json"
    assert made.returncode == 0 and str(target) in made.stdout and "previous file" not in made.stdout
    assert json.loads(target.read_text())["servers"]["memcli"]["type"] == "stdio"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    broken = tmp_path / "mcp.json"
    broken.write_text('{"mcpServers": {"x": 1},}  // a comment\n')
    r = _memcli(tmp_path, "cursor", "--install", "--file", str(broken))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "not valid JSON" in r.stderr
    assert broken.read_text() == '{"mcpServers": {"x": 1},}  // a comment\n'
    assert not list(tmp_path.glob("mcp.json.memcli-backup-*"))
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"mcpServers": []}')
    r = _memcli(tmp_path, "cursor", "--install", "--file", str(wrong))
    assert r.returncode == 1 and "'mcpServers' is not a JSON object" in r.stderr


def test_a_client_starts_the_server_from_the_installed_entry(tmp_path):
    (tmp_path / "home").mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    assert _memcli(tmp_path, "claude-code", "--install", cwd=project).returncode == 0
    entry = json.loads((project / ".mcp.json").read_text())["mcpServers"]["memcli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMCLI_")}
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env={**env, **entry["env"]},
                                   cwd=tmp_path)  # another directory: the scope is pinned in the entry

    async def run():
        async with Client(params) as client:
            made = (await client.call_tool("remember", {"text": "the tests run with pytest -q"})).structured_content
            assert made["scope"] == project_scope(project)

    asyncio.run(run())
    assert (tmp_path / "data" / "m.db").is_file()
