"""Shell integration: completion scripts are current, completion works, every command is documented."""

import os
import shutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def _completion_env(tmp_path):
    from memcli.core import Memory, RawInput
    from tests.conftest import HashEmbedder

    db = tmp_path / "typed.db"
    with Memory(db, embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "the greenhouse roof leaks")], scope="garden", tags=["roses"])
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    # a memcli that counts its runs: one process per TAB is the promise
    (bindir / "memcli").write_text(f"#!/bin/sh\necho run >> {log}\nexec {sys.executable} -m memcli \"$@\"\n")
    (bindir / "memcli").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "MEMCLI_DB": str(tmp_path / "none.db")}
    return db, env, log


def test_fixed_choices_ids_and_a_typed_db_complete(tmp_path):
    db, env, _log = _completion_env(tmp_path)

    def complete(words, cword):
        r = subprocess.run([sys.executable, "-m", "memcli"], capture_output=True, text=True, timeout=60,
                           env={**env, "_MEMCLI_COMPLETE": "complete_bash", "COMP_WORDS": words,
                                "COMP_CWORD": str(cword)})
        return r.stdout.split()

    assert complete("memcli recall x --kind ep", 4) == ["episodic"]
    assert complete("memcli forget --by cr", 3) == ["created"]
    assert complete("memcli completions f", 2) == ["fish"]
    assert complete("memcli models use gen", 3) == ["generator"]
    assert complete("memcli config get emb", 3) == ["embedder"]
    assert complete("memcli audit recall-log o", 3) == ["on", "off"]
    assert "forget" in complete("memcli audit log --op f", 4)
    assert complete(f"memcli --db {db} recall x --scope ga", 6) == ["garden"]  # the --db typed on the line
    assert complete(f"memcli --db {db} pin", 4) == ["1"]
    assert "chat" in complete("memcli remember x --format cha", 4)  # and plugin formats (chatgpt)


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_with_one_process_per_tab(tmp_path):
    db, env, log = _completion_env(tmp_path)
    script_path = tmp_path / "memcli.fish"
    script_path.write_text(script("fish"))
    r = subprocess.run(["fish", "--no-config", "-c", f"source {script_path}; complete -C 'memcli --db {db} recall x --scope ga'"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.stdout.split() == ["garden"], r.stderr
    assert log.read_text().count("run") == 1


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_install_respects_xdg_and_touches_no_global_shell_setting(tmp_path, monkeypatch):
    from memcli.cli.completion import install

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("ZDOTDIR", raising=False)
    install("fish", home)
    assert (tmp_path / "cfg" / "fish" / "completions" / "memcli.fish").read_text() == script("fish")
    install("bash", home)
    assert (tmp_path / "data" / "bash-completion" / "completions" / "memcli").exists()
    (home / ".zshrc").write_text("export EDITOR=vim")  # no trailing newline: must not be glued to
    install("zsh", home)
    install("zsh", home)  # idempotent
    rc = (home / ".zshrc").read_text()
    assert rc.startswith("export EDITOR=vim\n") and rc.count("# memcli completion") == 1
    assert "compinit" not in rc and "zstyle" not in rc
    target = tmp_path / "data" / "zsh" / "memcli-completion.zsh"
    r = subprocess.run(["zsh", "-f", "-c", f"autoload -U compinit; compinit -u; source {target}; print $_comps[memcli]"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(home)})
    assert r.stdout.strip() == "_memcli_completion", r.stderr
    r = subprocess.run(["zsh", "-f", "-c", f"source {target}; print ok"], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "ok" and r.stderr == ""  # without compinit: no error, nothing bound


def test_every_script_ends_with_a_newline():
    assert all(script(shell).endswith("\n") for shell in SHELLS)
