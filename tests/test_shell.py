"""Shell integration: completion scripts are current, completion works, every command is documented."""

import os
import re
import subprocess
import sys
from pathlib import Path

from memcli.cli.completion import SHELLS, script

ROOT = Path(__file__).resolve().parent.parent


def test_completion_scripts_are_current():
    for shell, name in SHELLS.items():
        assert (ROOT / "completions" / name).read_text() == script(shell), \
            f"completions/{name} is stale: run 'memcli completions --write completions/'"


def test_completion_lists_commands_and_stored_scopes(tmp_path):
    from memcli.core import Memory, RawInput
    from tests.conftest import HashEmbedder

    db = tmp_path / "m.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "x")], scope="garden", tags=["roses"])
    env = {**os.environ, "MEMCLI_DB": str(db), "_MEMCLI_COMPLETE": "complete_bash"}

    def complete(words, cword):
        r = subprocess.run([sys.executable, "-m", "memcli"], env={**env, "COMP_WORDS": words, "COMP_CWORD": str(cword)},
                           capture_output=True, text=True, timeout=60)
        return r.stdout.split()

    assert "recall" in complete("memcli rec", 1)
    assert complete("memcli recall --scope ga", 3) == ["garden"]
    assert complete("memcli forget --tag ro", 3) == ["roses"]


def _commands(group, prefix=""):
    import typer

    click_group = typer.main.get_command(group) if not hasattr(group, "commands") else group
    for name, cmd in click_group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_command_has_help_with_an_example_and_is_in_the_readme():
    from memcli.cli.app import app

    readme = (ROOT / "README.md").read_text()
    names = []
    for name, cmd in _commands(app):
        names.append(name)
        assert cmd.help and "memcli " in cmd.help, f"'{name}' needs help text with an example"
        assert re.search(rf"memcli {re.escape(name)}\b", readme), f"'memcli {name}' is not in the README"
    assert {"remember", "recall", "forget", "audit verify", "consolidate", "export", "import"} <= set(names)


def test_a_broken_plugin_command_does_not_break_memcli(monkeypatch, capsys):
    import types

    import pytest

    import memcli.plugins as plugins
    from memcli.cli import app as app_module

    bad = types.ModuleType("bad_plugin")

    @plugins.hookimpl
    def register_commands(cli):
        def broken(x: "NoSuchType"):  # noqa: F821 - an annotation typer cannot resolve
            """Broken."""

        cli.command("broken")(broken)

    bad.register_commands = register_commands
    real = plugins.plugin_manager

    def with_bad_plugin():
        pm = real()
        pm.register(bad, name="bad")
        return pm

    monkeypatch.setattr(plugins, "plugin_manager", with_bad_plugin)
    monkeypatch.setattr("sys.argv", ["memcli", "--version"])
    before = len(app_module.app.registered_commands)
    with pytest.raises(SystemExit) as exit_info:
        app_module.main()
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr()
    assert "plugin commands not loaded" in out.err and out.out.startswith("memcli ")
    assert len(app_module.app.registered_commands) == before
