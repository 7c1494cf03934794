from datetime import datetime, timezone

import pytest

from memcli.retrieval.fts_query import match_expression
from memcli.retrieval.fusion import rrf
from memcli.timeparse import parse_time, to_iso


def test_rrf_sums_weighted_reciprocal_ranks():
    fused = rrf({"a": [1, 2, 3], "b": [3, 1]}, {"a": 1.0, "b": 2.0}, k=10)
    scores = {f.memory_id: f.score for f in fused}
    assert scores[1] == pytest.approx(1 / 11 + 2 / 12)
    assert scores[3] == pytest.approx(1 / 13 + 2 / 11)
    assert scores[2] == pytest.approx(1 / 12)
    assert [f.memory_id for f in fused] == [3, 1, 2]
    assert fused[0].ranks == {"a": 3, "b": 1}


def test_match_expression_quotes_words_and_drops_stop_words():
    assert match_expression("Where do I live?") == '"live"'
    assert match_expression('NEAR(a b) OR "x" * (y)') == '"near" OR "b" OR "x" OR "y"'
    assert match_expression("the") == '"the"'  # only stop words: keep them rather than match nothing
    assert match_expression("?!") is None


def test_parse_time_forms():
    now = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
    assert to_iso(parse_time("2024-03-01", now=now)) == "2024-03-01T00:00:00Z"
    assert to_iso(parse_time("2024-03-01T10:00:00+02:00", now=now)) == "2024-03-01T08:00:00Z"
    assert to_iso(parse_time("7d", now=now)) == "2024-05-03T12:00:00Z"
    assert to_iso(parse_time("yesterday", now=now)) == "2024-05-09T00:00:00Z"
    assert to_iso(parse_time(1700000000123)) == "2023-11-14T22:13:20Z"
    with pytest.raises(ValueError):
        parse_time("someday")
