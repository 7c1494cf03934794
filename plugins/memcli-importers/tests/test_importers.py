"""The importers on fixtures of the published shapes, through the real memcli plugin manager."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli.cli.app import app
from memcli.errors import InputError
from memcli_importers import parse_chatgpt, parse_claude, parse_claude_code

FIXTURES = Path(__file__).parent / "fixtures"


def test_chatgpt_follows_the_current_branch_and_keeps_ids_and_times():
    msgs = parse_chatgpt((FIXTURES / "chatgpt_conversations.json").read_text(), "c")
    assert [(m.external_id, m.role) for m in msgs] == [("msg-u1", "user"), ("msg-a1", "assistant"),
                                                       ("msg-u2", "user")]
    assert msgs[0].occurred_at == "2024-06-01T10:00:00Z" and "Kyoto" in msgs[0].text


def test_claude_export():
    msgs = parse_claude((FIXTURES / "claude_conversations.json").read_text(), "c")
    assert [(m.external_id, m.role, m.occurred_at) for m in msgs] == [
        ("cm-1", "user", "2024-05-01T08:00:01Z"), ("cm-2", "assistant", "2024-05-01T08:00:05Z")]


def test_claude_code_keeps_text_turns_only():
    msgs = parse_claude_code((FIXTURES / "claude_code_session.jsonl").read_text(), "s")
    assert [(m.external_id, m.text) for m in msgs] == [("u1", "Rename the config loader to load_settings"),
                                                       ("u2", "I'll rename it in config.py.")]


def test_malformed_exports_are_refused():
    with pytest.raises(InputError):
        parse_chatgpt('{"not": "a list"}', "c")
    with pytest.raises(InputError):
        parse_claude('[{"uuid": "x"}]', "c")
    with pytest.raises(InputError, match=":2: invalid JSON"):
        parse_claude_code('{"type": "user"}\n{oops', "s")
    # Right outline, wrong types inside: one-line errors naming the file, not AttributeError tracebacks.
    for parse, text in ((parse_chatgpt, '[{"mapping": {"a": {"message": {"content": "hi"}}}}]'),
                        (parse_claude_code, '{"type": "user", "message": "hi"}'),
                        (parse_claude, '[{"chat_messages": ["x"]}]')):
        with pytest.raises(InputError, match="^f: not a .* export of the expected shape"):
            parse(text, "f")


def test_a_chatgpt_parent_loop_is_refused_not_followed_forever():
    loop = [{"current_node": "a", "mapping": {"a": {"parent": "b", "message": None},
                                              "b": {"parent": "a", "message": None}}}]
    with pytest.raises(InputError, match="parent links form a loop"):
        parse_chatgpt(json.dumps(loop), "c")


def test_claude_code_line_with_a_line_separator_in_its_text():
    line = {"type": "user", "uuid": "u1", "message": {"role": "user", "content": "one\u2028two"}}
    msgs = parse_claude_code(json.dumps(line, ensure_ascii=False), "s")
    assert [m.text for m in msgs] == ["one\u2028two"]


def test_plugin_is_loaded_and_ingests_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "m.db"))
    runner = CliRunner()
    r = runner.invoke(app, ["plugins", "--json"])
    names = {p["name"] for p in json.loads(r.stdout)}
    assert "importers" in names
    r = runner.invoke(app, ["remember", "--format", "chatgpt", "--file", str(FIXTURES / "chatgpt_conversations.json"),
                            "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["created"]) == 3
    r = runner.invoke(app, ["recall", "where am I flying", "--json"])
    top = json.loads(r.stdout)[0]
    assert top["sources"][0]["message_id"] == "msg-u1" and top["occurred_at"] == "2024-06-01T10:00:00Z"
    monkeypatch.setenv("MEMCLI_PLUGINS", "none")
    r = runner.invoke(app, ["remember", "--format", "claude", "--file", str(FIXTURES / "claude_conversations.json")])
    assert r.exit_code == 1 and "unknown format" in r.stderr
