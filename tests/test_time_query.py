"""Dates named in a question: what each phrase means, and how recall uses it."""

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memcli.core import Memory, RawInput
from memcli.models.hashing import HashEmbedder
from memcli.retrieval.priors import TimeProximity, length_factor, named_speaker
from memcli.retrieval.time_query import _parse, could_name_a_date, parse_time_query

NOW = date(2024, 3, 14)  # a Thursday
D = date


@pytest.mark.parametrize("question, spans", [
    ("How many hours of lessons did Paola have on 17.01.2024?", [(D(2024, 1, 17), D(2024, 1, 18))]),
    ("What happened on 2024-01-17?", [(D(2024, 1, 17), D(2024, 1, 18))]),
    ("and on 01/17/2024", [(D(2024, 1, 17), D(2024, 1, 18))]),
    ("and on 17/01/2024", [(D(2024, 1, 17), D(2024, 1, 18))]),  # 17 cannot be a month
    ("Where is she going on the 10th of February 2024?", [(D(2024, 2, 10), D(2024, 2, 11))]),
    ("calls on 3 Jan 2024", [(D(2024, 1, 3), D(2024, 1, 4))]),
    ("naps on January 6 2024", [(D(2024, 1, 6), D(2024, 1, 7))]),
    ("before December 23rd, 2023?", [(None, D(2023, 12, 23))]),
    ("recently before 5th of January 2024", [(None, D(2024, 1, 5))]),
    ("after 2024-01-17", [(D(2024, 1, 18), None)]),
    ("since 2024-01-17", [(D(2024, 1, 17), None)]),
    ("a hike in January 2024", [(D(2024, 1, 1), D(2024, 2, 1))]),
    ("caught a cold in 2024", [(D(2024, 1, 1), D(2025, 1, 1))]),
    ("Christmas 2023", [(D(2023, 12, 24), D(2023, 12, 27))]),
    ("yesterday", [(D(2024, 3, 13), D(2024, 3, 14))]),
    ("last night", [(D(2024, 3, 13), D(2024, 3, 14))]),
    ("what did she do the day before yesterday?", [(D(2024, 3, 12), D(2024, 3, 13))]),
    ("what did I say today", [(D(2024, 3, 14), D(2024, 3, 15))]),
    ("3 days ago", [(D(2024, 3, 11), D(2024, 3, 12))]),
    ("two weeks ago", [(D(2024, 2, 26), D(2024, 3, 4))]),
    ("a month ago", [(D(2024, 2, 1), D(2024, 3, 1))]),
    ("last week", [(D(2024, 3, 4), D(2024, 3, 11))]),
    ("this week", [(D(2024, 3, 11), D(2024, 3, 18))]),
    ("last month", [(D(2024, 2, 1), D(2024, 3, 1))]),
    ("last year", [(D(2023, 1, 1), D(2024, 1, 1))]),
    ("in the past 2 weeks", [(D(2024, 2, 29), D(2024, 3, 15))]),
    ("on Friday", [(D(2024, 3, 8), D(2024, 3, 9))]),
    ("on Thursday", [(D(2024, 3, 14), D(2024, 3, 15))]),  # today is one
    ("last Thursday", [(D(2024, 3, 7), D(2024, 3, 8))]),  # ... but not the last one
    ("last Friday", [(D(2024, 3, 8), D(2024, 3, 9))]),
    ("since March", [(D(2024, 3, 1), None)]),
    ("last December", [(D(2023, 12, 1), D(2024, 1, 1))]),
])
def test_absolute_and_relative_phrases(question, spans):
    tq = parse_time_query(question, NOW)
    assert list(tq.spans) == spans
    assert tq.yearless == ()


@pytest.mark.parametrize("question, yearless", [
    ("Were they both sick in January?", [(1, 1, 31)]),
    ("in February", [(2, 1, 31)]),  # clipped to each year's February when expanded
    ("What type of plans do they have on New Year's Eve?", [(12, 31, 31)]),
    ("after celebrating New Year", [(12, 31, 31), (1, 1, 1)]),
    ("on Christmas eve", [(12, 24, 24)]),
    ("May the 5th", [(5, 5, 5)]),
])
def test_yearless_phrases(question, yearless):
    tq = parse_time_query(question, NOW)
    assert tq.spans == ()
    assert list(tq.yearless) == yearless


@pytest.mark.parametrize("question", [
    "When was the last day of school?", "in the past weeks of training", "What may Paola do next?", "I march on", "Who won 2 games?", "version 3.5 of the app", "scored 10.01",
    "room 2024 keys", "When did Elise play chess?", "what is the date format", "",
    # numbers no calendar holds are not dates (they used to raise OverflowError / ValueError out of recall)
    "99999999 days ago", "5000 years ago", "100000 months ago", "in the past 9999999999 days",
    "99999999999 weeks ago", "on 31.02.2024", "January 99 2024",
])
def test_words_that_are_not_dates(question):
    assert not parse_time_query(question, NOW)


def test_yearless_days_expand_over_the_years_asked_for():
    tq = parse_time_query("in February", NOW)
    assert tq.iso_spans(2023, 2024) == [("2023-02-01T00:00:00Z", "2023-03-01T00:00:00Z"),
                                        ("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")]
    # 2023 has no 29 February, so that day is skipped rather than guessed; 2024 keeps it
    tq = parse_time_query("on 29 February", NOW)
    assert tq.iso_spans(2023, 2024) == [("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z")]


def test_several_phrases_are_all_read_in_order():
    tq = parse_time_query("on 05.01.2024 or was it 2024-01-02, in 2023?", NOW)
    assert tq.spans == ((D(2024, 1, 5), D(2024, 1, 6)), (D(2024, 1, 2), D(2024, 1, 3)),
                        (D(2023, 1, 1), D(2024, 1, 1)))


def test_time_proximity_fades_over_the_pad():
    near = TimeProximity([("2024-01-17T00:00:00Z", "2024-01-18T00:00:00Z")], boost=0.6, pad_days=2)
    assert near.factor("2024-01-17T12:00:00Z") == pytest.approx(1.6)
    assert near.factor("2024-01-18T12:00:00Z") == pytest.approx(1.0 + 0.6 * (1 - 0.5 / 3))
    assert near.factor("2024-01-14T00:00:00Z") == pytest.approx(1.0)  # 3 days before: out of reach
    assert near.factor(None) == 1.0
    open_ended = TimeProximity([(None, "2024-01-05T00:00:00Z")], boost=1.0, pad_days=0)
    assert open_ended.factor("2020-01-01T00:00:00Z") == pytest.approx(2.0)


def test_named_speaker_is_loose_about_spelling_but_not_ambiguous():
    speakers = ["Fahim Khan", "Muhhamed"]
    assert named_speaker("What are Fahim's hobbies?", speakers) == "Fahim Khan"
    assert named_speaker("When did Muhamed cancel plans?", speakers) == "Muhhamed"  # misspelt, 1 edit
    assert named_speaker("When did Muhammad cancel plans?", speakers) is None  # 3 edits: too far
    assert named_speaker("How did Fahim and Muhhamed meet?", speakers) is None  # both: no preference
    assert named_speaker("What is the weather?", speakers) is None
    assert named_speaker("Did Kahn go?", ["Al"]) is None
    # two-letter names only as written, and never a common word; one letter never
    assert named_speaker("What did Bo buy in Porto?", ["Ana", "Bo"]) == "Bo"
    assert named_speaker("what did bo buy?", ["Ana", "Bo"]) is None
    assert named_speaker("So what did Ana buy?", ["So", "Ana"]) == "Ana"
    assert named_speaker("Ok, where is A going?", ["A", "Ok"]) is None
    # shared name parts and titles: the best-named speaker wins; a tie names nobody
    assert named_speaker("What did Dr. Smith say?", ["Dr. Smith", "Dr. Jones"]) == "Dr. Smith"
    assert named_speaker("What did Mr Li say?", ["Mr Li", "Mr Wang"]) == "Mr Li"
    assert named_speaker("What did Ana Silva say?", ["Ana Silva", "Ana Costa"]) == "Ana Silva"
    assert named_speaker("What did Ana say?", ["Ana Silva", "Ana Costa"]) is None
    assert named_speaker("What did Maria say?", ["Maria", "Mario"]) == "Maria"
    # lowercase look-alikes are words, not misspelt names
    assert named_speaker("what games did we play?", ["James", "Ana"]) is None
    assert named_speaker("who said hello first?", ["Bella", "Ana"]) is None
    assert named_speaker("what did fahim say?", ["Fahim", "Ana"]) == "Fahim"  # but a name typed lowercase counts


def test_length_factor_only_favours_long_memories_and_is_capped():
    assert length_factor(1, 0.3) == length_factor(59, 0.3) == length_factor(60, 0.3) == 1.0
    assert length_factor(120, 0.3) == pytest.approx(2 ** 0.3)
    assert length_factor(5000, 0.3) == length_factor(240, 0.3) == pytest.approx(4 ** 0.3)
    assert length_factor(5000, 0.0) == 1.0


def test_recall_favours_memories_told_on_the_date_the_question_names(tmp_path):
    """Same words on three days: the question's date decides the order, and without the prior it would not
    (the holiday's name is in no memory's text or date words, so only the prior can find its day)."""
    records = [{"speaker": "Ana", "text": f"went swimming at the lake ({label})", "timestamp": ts}
               for label, ts in [("first", "2024-01-10T18:00:00Z"), ("second", "2024-01-17T18:00:00Z"),
                                 ("third", "2024-12-31T18:00:00Z")]]
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("t", "\n".join(json.dumps(r) for r in records))], fmt="jsonl")
        hits = mem.recall("Where did Ana go swimming on 17.01.2024?", limit=3, touch=False)
        assert "second" in hits[0].text
        hits = mem.recall("Where did Ana go swimming on New Year's Eve?", limit=3, touch=False)
        assert "third" in hits[0].text
        mem.recall_options.time_boost = 0.0
        plain = [h.text for h in mem.recall("Where did Ana go swimming on New Year's Eve?", limit=3, touch=False)]
        assert "third" not in plain[0]


def test_recall_favours_the_speaker_the_question_names(tmp_path):
    """Ana's turn names Ben and matches more words, so without the prior it comes first; with it, Ben's own turn."""
    lines = "Ana: Ben asked about my favourite food, it is ramen\nBen: my favourite food is pizza"
    question = "What is Ben's favourite food?"
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("c", lines)], fmt="chat")
        assert mem.recall(question, limit=2, touch=False)[0].speaker == "Ben"
        mem.recall_options.speaker_boost = 0.0
        assert mem.recall(question, limit=2, touch=False)[0].speaker == "Ana"

def test_a_query_with_an_impossible_date_still_recalls(tmp_path):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("n", "the boiler was serviced")])
        assert mem.recall("boiler serviced 99999999 days ago", touch=False)[0].text == "the boiler was serviced"


POSITIVE = ["How many hours of lessons did Paola have on 17.01.2024?", "What happened on 2024-01-17?",
            "and on 01/17/2024", "caught a cold in 2024", "3 days ago", "in the past 2 weeks", "on Friday",
            "Christmas 2023", "after celebrating New Year", "May the 5th", "Valentine's", "last night"]


@pytest.mark.parametrize("question", POSITIVE)
def test_every_date_phrase_passes_the_cheap_check(question):
    """The check that spares most questions the date patterns must let every date phrase through."""
    assert parse_time_query(question, NOW)  # the phrase is a date ...
    assert could_name_a_date(question)  # ... so the cheap check has to let it through


@given(st.lists(st.sampled_from(
    ["2", "17", "2024", "1999", "3.5", "01", ".", "/", "-", " ", "on", "in", "the", "of", "ago", "past", "last",
     "won", "games", "room", "version", "#", "(", ")", "12:30", "x", "before", "after", "since"]),
    max_size=12).map("".join))
def test_text_the_cheap_check_turns_away_holds_no_date(text):
    if not could_name_a_date(text):
        assert not _parse(text, NOW)


@pytest.mark.parametrize("at, question", [("0500-06-01", "what happened in June?"),
                                          ("9999-12-01", "what happened in December?"),
                                          ("0500-06-01", "the plan")])
def test_recall_survives_memories_at_the_ends_of_the_calendar(tmp_path, at, question):
    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("note", "the plan for the old fort")], at=at)
        hits = mem.recall(question)
        assert hits and hits[0].occurred_at.startswith(at)


def test_recall_reads_relative_dates_from_when_the_question_is_asked(tmp_path):
    from datetime import datetime, timezone

    with Memory(tmp_path / "m.db", embedder=HashEmbedder()) as mem:
        mem.remember([RawInput("a", "we planted the tomatoes in the garden")], at="2023-05-10T10:00:00Z")
        mem.remember([RawInput("b", "we planted the roses in the garden")], at="2023-06-20T10:00:00Z")
        june = datetime(2023, 7, 3, tzinfo=timezone.utc)  # 'last month' asked in July 2023 is June 2023
        assert mem.recall("what did we plant last month?", asked_at=june)[0].text.endswith("roses in the garden")
        may = datetime(2023, 6, 3, tzinfo=timezone.utc)
        assert mem.recall("what did we plant last month?", asked_at=may)[0].text.endswith("tomatoes in the garden")
