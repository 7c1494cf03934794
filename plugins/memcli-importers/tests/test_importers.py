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
    assert r.exit_code == 2 and "unknown format" in r.stderr


# -- auto-detection, zip archives, titles and noise ------------------------------------------------------------------
import zipfile  # noqa: E402

from memcli.core import Memory  # noqa: E402
from memcli.ingest import stream  # noqa: E402
from memcli.ingest.parse import detect, export_kind  # noqa: E402
from memcli.models.hashing import HashEmbedder  # noqa: E402
from memcli.plugins import collect, plugin_manager  # noqa: E402
from memcli.types import Filters, RawInput  # noqa: E402

EXPORTS = {"chatgpt": "chatgpt_conversations.json", "claude": "claude_conversations.json",
           "claude-code": "claude_code_noisy.jsonl"}


def _remember(args, monkeypatch, tmp_path, plugins=None):
    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "m.db"))
    monkeypatch.setenv("MEMCLI_EMBEDDER", "hash")
    if plugins is not None:
        monkeypatch.setenv("MEMCLI_PLUGINS", plugins)
    return CliRunner().invoke(app, ["remember", *args, "--json"])


def _records(tmp_path):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder(), create=False) as mem:
        return mem.recent(Filters(), limit=100)


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_each_export_is_recognised_by_shape_even_from_a_cut_head(kind):
    text = (FIXTURES / EXPORTS[kind]).read_text()
    assert export_kind(text) == kind
    assert export_kind(text[:900]) == kind  # a head cut mid-document (how a large input is judged)
    importers = collect(plugin_manager(), "register_importers")
    assert detect(text, "f", importers) == kind


def test_ordinary_inputs_are_not_taken_for_exports():
    for text in ('[{"role": "user", "content": "hi"}]', '{"text": "a note", "type": "note"}\n',
                 '{"speaker": "Ana", "text": "hello"}\n', "Ana: hi\nBo: hello\n", "[1, 2, 3]",
                 '{"type": "user", "message": {"role": "user", "content": "no session id"}}\n'):
        assert export_kind(text) is None, text


@pytest.mark.parametrize("kind, count, tag", [("chatgpt", 3, "chat:trip-planning"), ("claude", 2, "chat:garden"),
                                              ("claude-code", 5, "branch:feature/login")])
def test_format_auto_picks_the_importer_and_titles_become_tags(kind, count, tag, tmp_path, monkeypatch):
    r = _remember(["--file", str(FIXTURES / EXPORTS[kind])], monkeypatch, tmp_path)
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["created"]) == count
    records = _records(tmp_path)
    assert all(tag in rec["tags"] for rec in records), [rec["tags"] for rec in records]


@pytest.mark.parametrize("kind, what", [("chatgpt", "a ChatGPT export"), ("claude", "a Claude.ai export"),
                                        ("claude-code", "a Claude Code session log")])
def test_without_the_plugin_auto_names_the_format_and_the_plugin(kind, what, tmp_path, monkeypatch):
    r = _remember(["--file", str(FIXTURES / EXPORTS[kind])], monkeypatch, tmp_path, plugins="none")
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and what in r.stderr and f"'{kind}'" in r.stderr
    assert "memcli-importers plugin" in r.stderr and "record has no text field" not in r.stderr
    assert not (tmp_path / "m.db").exists() or not _records(tmp_path)


def _zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_a_chatgpt_data_export_zip_is_read_through_its_conversations_json(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "chatgpt-export.zip", {
        "conversations.json": (FIXTURES / "chatgpt_conversations.json").read_text(),
        "user.json": '{"id": "user-1", "email": "me@example.com"}', "chat.html": "<html></html>",
        "message_feedback.json": "[]", "file-abc.dat": b"\x89PNG\x00\x01binary"})
    r = _remember(["--file", str(archive)], monkeypatch, tmp_path)
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["created"]) == 3
    assert {"chat:trip-planning"} <= set(_records(tmp_path)[0]["tags"])
    r = _remember(["--file", str(archive)], monkeypatch, tmp_path)  # again: nothing new
    assert r.exit_code == 0 and json.loads(r.stdout)["created"] == []


def test_a_claude_export_zip_and_a_zip_of_claude_code_sessions(tmp_path, monkeypatch):
    claude = _zip(tmp_path / "claude.zip", {"users.json": "[]", "projects.json": "[]",
                                           "conversations.json": (FIXTURES / "claude_conversations.json").read_text()})
    sessions = _zip(tmp_path / "sessions.zip", {
        "projects/-home-dev-acme/b.jsonl": (FIXTURES / "claude_code_noisy.jsonl").read_text(),
        "projects/-home-dev-acme/a.jsonl": (FIXTURES / "claude_code_session.jsonl").read_text().rstrip("\n")})
    r = _remember(["--file", str(claude)], monkeypatch, tmp_path)
    assert r.exit_code == 0 and len(json.loads(r.stdout)["created"]) == 2, r.output
    r = _remember(["--file", str(sessions)], monkeypatch, tmp_path)
    assert r.exit_code == 0 and len(json.loads(r.stdout)["created"]) == 2 + 5, r.output


def test_a_zip_piped_on_stdin_and_without_the_plugin(tmp_path, monkeypatch):
    archive = _zip(tmp_path / "x.zip", {"conversations.json": (FIXTURES / "chatgpt_conversations.json").read_text()})
    monkeypatch.setenv("MEMCLI_DB", str(tmp_path / "m.db"))
    monkeypatch.setenv("MEMCLI_EMBEDDER", "hash")
    r = CliRunner().invoke(app, ["remember", "-", "--json"], input=archive.read_bytes())
    assert r.exit_code == 0 and len(json.loads(r.stdout)["created"]) == 3, r.output
    r = _remember(["--file", str(archive)], monkeypatch, tmp_path, plugins="none")
    assert r.exit_code == 1 and "looks like a ChatGPT export" in r.stderr and "binary" not in r.stderr


def test_a_large_zip_is_unpacked_to_a_spool_and_detected_from_its_head(tmp_path):
    archive = _zip(tmp_path / "x.zip", {"conversations.json": (FIXTURES / "chatgpt_conversations.json").read_text()})
    spool = stream.open_file(archive, small=64)  # as if it were larger than SMALL_INPUT
    assert isinstance(spool, stream.Spool)
    try:
        with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
            result = mem.remember([RawInput(str(archive), spool)])
    finally:
        spool.close()
    assert len(result.created) == 3


def test_zip_bombs_and_odd_archives_are_refused_in_one_line(tmp_path, monkeypatch):
    big = _zip(tmp_path / "big.zip", {"conversations.json": "[" + " " * 200_000 + "]"})
    monkeypatch.setattr(stream, "ZIP_MAX_BYTES", 100_000)
    with pytest.raises(InputError, match="unpacks to more than"):
        stream.unzip_bytes(big.read_bytes(), "big.zip")
    many = _zip(tmp_path / "many.zip", {f"f{i}.txt": "x" for i in range(20)})
    monkeypatch.setattr(stream, "ZIP_MAX_MEMBERS", 10)
    with pytest.raises(InputError, match="more than 10 entries"):
        stream.unzip_bytes(many.read_bytes(), "many.zip")
    monkeypatch.setattr(stream, "ZIP_MAX_MEMBERS", 100)
    with pytest.raises(InputError, match="no conversations.json, no .jsonl file and not a single file"):
        stream.unzip_bytes(many.read_bytes(), "many.zip")
    with pytest.raises(InputError, match="not a readable zip archive"):
        stream.unzip_bytes(b"PK\x03\x04" + b"\x00" * 40, "cut.zip")
    two = _zip(tmp_path / "two.zip", {"a/conversations.json": "[]", "b/conversations.json": "[]"})
    with pytest.raises(InputError, match="2 conversations.json files"):
        stream.unzip_bytes(two.read_bytes(), "two.zip")


def test_claude_code_noise_is_skipped_and_session_project_branch_kept():
    msgs = parse_claude_code((FIXTURES / "claude_code_noisy.jsonl").read_text(), "s")
    assert [m.external_id for m in msgs] == ["u-1", "a-2", "a-4", "u-3", "a-5"]
    texts = " ".join(m.text for m in msgs)
    for noise in ("Caveat", "/clear", "local-command", "Where is the login route", "def login", "utils/limits.py",
                  "interrupted", "being continued", "system-reminder", "TodoWrite", "Stop hooks ran"):
        assert noise not in texts, noise
    assert msgs[3].text == "Also log every blocked attempt with the IP hashed."
    assert set(msgs[0].tags) == {"session:7f3c2a91", "project:acme-api", "branch:feature/login"}


def test_chatgpt_tool_output_and_hidden_messages_are_not_turns():
    def node(nid, parent, role, text, **meta):
        return {"id": nid, "parent": parent, "children": [], "message": {
            "id": nid, "author": {"role": role}, "create_time": 1717236000.0, "metadata": meta,
            "content": {"content_type": "text", "parts": [text]}}}
    conv = {"title": "Müller & Co: Q3 plan!", "current_node": "d", "mapping": {
        "a": node("a", None, "user", "Custom instructions", is_visually_hidden_from_conversation=True),
        "b": node("b", "a", "user", "Search the web for Q3 numbers"),
        "c": node("c", "b", "tool", "Search results: ..."),
        "d": node("d", "c", "assistant", "Q3 revenue grew 4%.")}}
    msgs = parse_chatgpt(json.dumps([conv]), "c")
    assert [m.text for m in msgs] == ["Search the web for Q3 numbers", "Q3 revenue grew 4%."]
    assert msgs[0].tags == ("chat:müller-co-q3-plan",)
