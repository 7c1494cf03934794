"""Shell integration: completion scripts are current, completion works, every command and option is documented in
docs/reference.md, the README stays short and shows the lines CI runs, and the docs' links resolve."""

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


def _walk(command, path=()):
    """Every command of the click tree, groups included, as (path, command); the root is ()."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


@pytest.fixture
def real_cli(monkeypatch, capsys):
    """The command tree exactly as `memcli` runs it: main() with its plugin loading (mcp, hooks), which adds to the
    module's app; the app's registrations are restored afterwards."""
    import typer

    from memcli.cli import app as app_module

    app = app_module.app
    monkeypatch.setattr(app, "registered_commands", list(app.registered_commands))
    monkeypatch.setattr(app, "registered_groups", list(app.registered_groups))
    monkeypatch.setattr("sys.argv", ["memcli", "--version"])
    with pytest.raises(SystemExit):
        app_module.main()
    capsys.readouterr()
    return typer.main.get_command(app)


def _sections(markdown: str) -> dict[str, str]:
    """Heading text -> the text up to the next heading (fenced code blocks are not headings)."""
    sections, heading, body, fenced = {}, None, [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            if heading is not None:
                sections[heading] = "\n".join(body)
            heading, body = line.lstrip("#").strip(), []
        else:
            body.append(line)
    if heading is not None:
        sections[heading] = "\n".join(body)
    return sections


def test_every_command_has_help_with_an_example_and_every_option_is_in_the_reference(real_cli):
    reference = _sections((ROOT / "docs" / "reference.md").read_text())
    names = []
    for path, cmd in _walk(real_cli):
        name = " ".join(path)
        names.append(name)
        if not hasattr(cmd, "commands"):
            assert cmd.help and "memcli " in cmd.help, f"'{name}' needs help text with an example"
        heading = "Global options" if not path else f"`memcli {name}`"
        assert heading in reference, f"docs/reference.md has no section '## {heading}'"
        for param in cmd.params:
            if param.param_type_name != "option":
                continue
            for opt in (*param.opts, *param.secondary_opts):
                assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", reference[heading]), \
                    f"'{opt}' of '{heading}' is not in its section of docs/reference.md"
    assert {"remember", "recall", "forget", "audit verify", "consolidate", "export", "import", "completions",
            "mcp", "mcp config", "hooks install", "hooks run"} <= set(names)


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().encode()) <= 12 * 1024


def test_the_readme_shows_the_lines_ci_runs():
    """.ci/run installs and tests 'exactly as the README says': its pip lines are lines of the README, byte for byte."""
    readme = (ROOT / "README.md").read_text().splitlines()
    ci_lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln.startswith("pip install")]
    assert len(ci_lines) == 2
    for line in ci_lines:
        assert line in readme, f"the README does not show .ci/run's line: {line}"


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_links_between_the_docs_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    anchors = {page.resolve(): {_slug(h) for h in _sections(page.read_text())} for page in pages}
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            resolved = (page.parent / file).resolve() if file else page.resolve()
            assert resolved.exists(), f"{page.name}: link to a missing file: {target}"
            if anchor and resolved in anchors:
                assert anchor in anchors[resolved], f"{page.name}: link to a missing heading: {target}"


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
