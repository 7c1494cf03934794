"""One exit-code table (memcli/errors.py, README): 0 ok, 1 error, 2 usage, 3 not found, 4 busy, 130 interrupted;
every usage error is one line on stderr."""

from __future__ import annotations

import pytest
import typer

from memcli.cli.app import app


def _commands(group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))
        else:
            yield (*path, name)


ALL = list(_commands(typer.main.get_command(app)))


@pytest.fixture
def run(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "m.db"))
    monkeypatch.setenv("MEMCLI_EMBEDDER", "hash")
    monkeypatch.setenv("MEMCLI_CONFIG", str(tmp_path / "config.toml"))
    runner = CliRunner()
    return lambda *args, input=None: runner.invoke(app, list(args), input=input)


@pytest.mark.parametrize("path", ALL, ids=[" ".join(p) for p in ALL])
def test_an_unknown_option_is_a_one_line_usage_error_for_every_command(run, path):
    r = run(*path, "--no-such-option")
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("memcli: error: No such option: --no-such-option")
    assert len(r.stderr.strip().splitlines()) == 1 and f"{' '.join(path)} --help" in r.stderr


@pytest.mark.parametrize("args, code, message", [
    (["recall"], 2, "give a QUERY"),
    (["recall", "x", "--json", "--nl"], 2, "--json and --nl"),
    (["forget"], 2, "no selector"),
    (["forget", "--all"], 2, "--all needs an explicit --scope"),
    (["forget", "--tag", "x", "--by", "foo"], 2, "'foo' is not one of 'occurred', 'created'"),
    (["completions", "foo"], 2, "'foo' is not one of 'bash', 'zsh', 'fish'"),
    (["completions"], 2, "give a shell"),
    (["remember", "x", "--format", "foo"], 2, "unknown format 'foo'"),
    (["recall", "x", "--kind", "foo"], 2, "'foo' is not one of 'episodic'"),
    (["models", "use", "painter", "x"], 2, "'painter' is not one of 'embedder', 'reranker', 'generator'"),
    (["config", "get", "colour"], 2, "'colour' is not one of"),
    (["audit", "recall-log", "maybe"], 2, "'maybe' is not one of 'on', 'off'"),
    (["audit", "log", "--op", "deleted"], 2, "'deleted' is not one of"),
    (["export", "--format", "xml"], 2, "unknown export format"),
    (["pin", "999"], 3, "no memory with id 999"),
    (["audit", "show", "999"], 3, "no memory with id 999"),
    (["edit", "999", "x"], 3, "no memory with id 999"),
    (["recall", "x", "--since", "not a time"], 1, "--since"),
])
def test_usage_not_found_and_input_errors_have_their_codes(run, args, code, message):
    assert run("remember", "a first note").exit_code == 0
    r = run(*args)
    assert r.exit_code == code and message in r.stderr, (r.exit_code, r.stderr)
    assert r.stderr.startswith("memcli: error:") and len(r.stderr.strip().splitlines()) == 1


def test_bare_memcli_is_help_on_stdout(run):
    r = run()
    assert r.exit_code == 0 and "[OPTIONS] COMMAND [ARGS]" in r.stdout and r.stderr == ""


def test_a_database_held_past_the_busy_timeout_is_exit_4(tmp_path, monkeypatch, run):
    import sqlean

    import memcli.storage.connection as connection

    assert run("remember", "a first note").exit_code == 0
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 200)
    holder = sqlean.connect(str(tmp_path / "m.db"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = run("remember", "a second note")
    finally:
        holder.execute("ROLLBACK")
    assert r.exit_code == 4 and "database busy" in r.stderr and len(r.stderr.strip().splitlines()) == 1
