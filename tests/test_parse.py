import json

import pytest

from memcli.errors import InputError
from memcli.ingest.parse import decode, detect_format, parse


def test_plain_text_paragraphs_become_messages():
    fmt, msgs = parse("first thought\n\nsecond thought\nstill second", "auto", "x")
    assert fmt == "text"
    assert [m.text for m in msgs] == ["first thought", "second thought\nstill second"]


def test_chat_lines_with_timestamps_and_continuations():
    text = "[2024-03-01 10:00] Alice: hi there\nBob: hello\n  and more\n[01.03.2024, 10:05:00] Alice: bye"
    fmt, msgs = parse(text, "auto", "x")
    assert fmt == "chat"
    assert [(m.speaker, m.text) for m in msgs] == [("Alice", "hi there"), ("Bob", "hello\nand more"),
                                                   ("Alice", "bye")]
    assert msgs[0].occurred_at == "2024-03-01T10:00:00Z"
    assert msgs[1].occurred_at is None
    assert msgs[2].occurred_at == "2024-03-01T10:05:00Z"


def test_single_colon_sentence_is_not_a_chat():
    assert detect_format("Note: buy milk and eggs tomorrow") == "text"


def test_jsonl_fields_and_aliases():
    lines = [
        {"id": "m1", "speaker": "Ana", "text": "one", "timestamp": "2024-01-02T03:04:05+01:00"},
        {"message_id": 7, "role": "assistant", "content": "two", "timestamp": 1700000000},
        {"name": "Bo", "content": [{"type": "text", "text": "three"}, {"type": "image_url"}]},
    ]
    fmt, msgs = parse("\n".join(json.dumps(x) for x in lines) + "\n\n", "auto", "f.jsonl")
    assert fmt == "jsonl"
    assert [(m.external_id, m.speaker, m.text) for m in msgs] == [("m1", "Ana", "one"), ("7", "assistant", "two"),
                                                                   (None, "Bo", "three")]
    assert msgs[0].occurred_at == "2024-01-02T02:04:05Z"
    assert msgs[1].occurred_at == "2023-11-14T22:13:20Z"
    assert msgs[1].role == "assistant"


def test_openai_json_list_and_messages_object():
    data = [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"},
            {"role": "assistant", "content": None, "tool_calls": []}]
    fmt, msgs = parse(json.dumps(data), "auto", "x")
    assert fmt == "json" and [m.text for m in msgs] == ["be nice", "hello"]
    _, msgs2 = parse(json.dumps({"messages": data}), "json", "x")
    assert [m.text for m in msgs2] == ["be nice", "hello"]


@pytest.mark.parametrize(
    "text, fmt, expected",
    [
        ('{"text": "ok"}\n{"text": broken}\n', "jsonl", "f:2: invalid JSON"),
        ('{"text": "ok"}\n[1, 2]\n', "jsonl", "f:2: expected a JSON object"),
        ('{"speaker": "a"}\n', "jsonl", "f:1: record has no text field"),
        ('[{"content": "x"}', "json", "invalid JSON"),
        ('{"a": 1}', "json", "expected a JSON list"),
        ("just words\nno speakers", "chat", "f:1: expected 'Speaker: text'"),
        ('{"text": "x", "timestamp": "not a date"}', "jsonl", "f:1: bad timestamp"),
        ("hello", "yaml", "unknown format"),
    ],
)
def test_malformed_input_names_origin_and_line(text, fmt, expected):
    with pytest.raises(InputError) as err:
        parse(text, fmt, "f")
    assert expected in str(err.value)


def test_deeply_nested_json_is_refused_not_crashing():
    nested = '{"text": "x", "meta": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(InputError):
        parse(nested, "jsonl", "f")


def test_decode_refuses_binary_invalid_utf8_and_empty():
    with pytest.raises(InputError, match="binary"):
        decode(b"abc\x00def", "f")
    with pytest.raises(InputError, match="not valid UTF-8"):
        decode(b"caf\xe9", "f")
    with pytest.raises(InputError, match="empty"):
        decode(b"  \n\t ", "f")
    assert decode("\ufeffhé".encode(), "f") == "hé"


def test_a_note_with_colons_is_not_taken_for_a_chat():
    note = "My plan for Monday: gym at 7\nThe dentist said: floss more and come back in June"
    assert detect_format(note) == "text"
    assert detect_format("user: hi\nassistant: hello, how can I help?") == "chat"
    assert detect_format("Mary Ann: hi\nDr. Smith: hello") == "chat"
