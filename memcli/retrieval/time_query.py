"""Dates named in a question ('on 17.01.2024', 'in May', 'last week', 'before Christmas') as time spans.

Recall uses the spans to favour memories whose event time falls inside or near them (a multiplicative boost,
retrieval/priors.py TimeProximity, never a hard filter: the words may name the event rather than when it was told). Relative phrases are taken
relative to `now`; a month or holiday without a year matches it in every year, because a question about
"January" in a years-long history rarely means one particular January and the content score decides among them.
English only; anything not recognised is simply not a time phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}
_FULL_MONTH = "january|february|march|april|may|june|july|august|september|october|november|december"
_ANY_MONTH = _FULL_MONTH + "|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
# Words before a bare month name that make it a date ('in May'), not a verb ('may', 'march').
_MONTH_LEAD = r"(?:in|during|of|since|before|after|until|till|by|from|last|this|early|late|mid|throughout)"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d\d)"
# Fixed-date holidays: (month, first day, last day); new year spans the turn of the year.
_HOLIDAYS = (
    (r"christmas\s+eve", ((12, 24, 24),)),
    (r"christmas|xmas", ((12, 24, 26),)),
    (r"new\s+year'?s?\s+eve", ((12, 31, 31),)),
    (r"new\s+year'?s?\s+day", ((1, 1, 1),)),
    (r"new\s+years?'?s?", ((12, 31, 31), (1, 1, 1))),
    (r"halloween", ((10, 31, 31),)),
    (r"valentine'?s?(?:\s+day)?", ((2, 14, 14),)),
)

Span = tuple[date | None, date | None]  # [start, end): end exclusive; None is open


@dataclass(frozen=True)
class TimeQuery:
    """What a question says about time: absolute spans, and yearless (month, first day, last day) days."""

    spans: tuple[Span, ...] = ()
    yearless: tuple[tuple[int, int, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.spans or self.yearless)

    def iso_spans(self, first_year: int, last_year: int) -> list[tuple[str | None, str | None]]:
        """All spans as ISO-8601 UTC [start, end) bounds; yearless days expanded over the given years."""
        out = [(_iso(a), _iso(b)) for a, b in self.spans]
        for year in range(first_year, last_year + 1):
            for month, first, last in self.yearless:
                month_end = (_month_span(year, month)[1] - timedelta(days=1)).day
                if first > month_end:  # 29 February in a common year
                    continue
                start = date(year, month, first)
                out.append((_iso(start), _iso(date(year, month, min(last, month_end)) + timedelta(days=1))))
        return out


def _iso(d: date | None) -> str | None:
    return None if d is None else f"{d.isoformat()}T00:00:00Z"


def _month_span(year: int, month: int) -> tuple[date, date]:
    start = date(year, month, 1)
    return start, (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1))


def _day(year: int, month: int, day: int) -> tuple[date, date] | None:
    try:
        d = date(year, month, day)
    except ValueError:
        return None
    return d, d + timedelta(days=1)


def _week_of(d: date) -> Span:
    start = d - timedelta(days=d.weekday())
    return start, start + timedelta(days=7)


class _Reader:
    """Finds time phrases pattern by pattern, most specific first ('17.01.2024' before 'in 2024'); each character
    is read as part of at most one phrase."""

    def __init__(self, text: str, today: date):
        self.lower = text.lower()
        self.today = today
        self.taken = [False] * len(self.lower)
        self.found: list[tuple[int, Span | None, tuple[tuple[int, int, int], ...]]] = []

    def take_span(self, pattern: str, make) -> None:
        self.take(pattern, lambda m: (make(m), ()))

    def take(self, pattern: str, make) -> None:
        """`make(match)` gives (span or None, yearless days), or None when the match is not a date after all."""
        for m in re.finditer(pattern, self.lower):
            if any(self.taken[m.start() : m.end()]):
                continue
            try:
                made = make(m)
            except (ValueError, OverflowError):  # '5000 years ago', '99999999 days ago': no such date
                continue
            if made is None:
                continue
            span, yearless = made
            for i in range(m.start(), m.end()):
                self.taken[i] = True
            self.found.append((m.start(), span, yearless))


def _bounded(lead: str | None, span: Span | None,
             yearless: tuple = ()) -> tuple[Span | None, tuple]:
    """'before X' / 'after X' / 'since X' / 'until X' turn a span into an open-ended one."""
    if span is None or not lead:
        return span, yearless
    lead = lead.strip()
    if lead == "before":
        return (None, span[0]), ()
    if lead in ("after", "since"):
        return (span[1] if lead == "after" else span[0], None), ()
    if lead in ("until", "till"):
        return (None, span[1]), ()
    return span, yearless


_LEAD = r"(?:\b(before|after|since|until|till)\s+(?:the\s+)?)?"
# Every phrase below holds one of these words, a year (19xx/20xx) or digits joined by '-', '/' or '.'. Most
# questions hold none, and checking for them first spares recall compiling the patterns (14-24 ms of a one-shot
# `memcli recall`), also for questions with an incidental number ('who won 2 games?').
_TIME_WORDS = frozenset(_MONTHS) | frozenset(_WEEKDAYS) | frozenset(
    """christmas xmas year years halloween valentine valentines today tonight yesterday morning afternoon evening
    night day days week weeks weekend month months""".split())
_WORD = re.compile(r"[a-z]+")
_DATE_DIGITS = re.compile(r"\d[-/.]\d|(?:19|20)\d\d")


def could_name_a_date(text: str) -> bool:
    """False when no pattern of parse_time_query can match: no time word, no year, no numeric date."""
    lower = text.lower()
    return not _TIME_WORDS.isdisjoint(_WORD.findall(lower)) or _DATE_DIGITS.search(lower) is not None


def parse_time_query(text: str, now: datetime | date) -> TimeQuery:
    """Read every time phrase in `text`. `now` anchors 'yesterday', 'last week', '3 days ago' and weekdays."""
    today = now.date() if isinstance(now, datetime) else now
    if not could_name_a_date(text):
        return TimeQuery()
    return _parse(text, today)


def _parse(text: str, today: date) -> TimeQuery:
    r = _Reader(text, today)

    def full_date(m, y, mo, d):
        return _bounded(m.group(1), _day(int(y), int(mo), int(d)))

    # 2024-01-17, 2024/01/17
    r.take(_LEAD + r"\b((?:19|20)\d\d)[-/](\d{1,2})[-/](\d{1,2})\b",
           lambda m: full_date(m, m.group(2), m.group(3), m.group(4)))
    # 17.01.2024 (day first); 01/17/2024 (month first unless that cannot be a month)
    r.take(_LEAD + r"\b(\d{1,2})\.(\d{1,2})\.((?:19|20)\d\d)\b",
           lambda m: full_date(m, m.group(4), m.group(3), m.group(2)))
    r.take(_LEAD + r"\b(\d{1,2})/(\d{1,2})/((?:19|20)\d\d)\b",
           lambda m: full_date(m, m.group(4), *((m.group(2), m.group(3)) if int(m.group(2)) <= 12
                                                else (m.group(3), m.group(2)))))
    # the 10th of February 2024 / 6 Jan 2024 / 31 of December
    r.take(_LEAD + rf"\b{_DAY}\s+(?:of\s+)?({_ANY_MONTH})\b\.?,?(?:\s+{_YEAR}\b)?",
           lambda m: _named_day(r, m.group(1), m.group(4), m.group(3), m.group(2)))
    # January 6 2024 / December 23rd, 2023 / May the 5th
    r.take(_LEAD + rf"\b({_ANY_MONTH})\.?\s+(?:the\s+)?{_DAY}\b(?!\s*(?:%|[.:]\d))(?:,?\s+{_YEAR}\b)?",
           lambda m: _named_day(r, m.group(1), m.group(4), m.group(2), m.group(3)))
    # January 2024
    r.take(_LEAD + rf"\b({_ANY_MONTH})\.?,?\s+{_YEAR}\b",
           lambda m: _bounded(m.group(1), _month_span(int(m.group(3)), _MONTHS[m.group(2)])))
    # holidays, with or without a year
    for pattern, days in _HOLIDAYS:
        r.take(_LEAD + rf"\b(?:{pattern})(?:\s+(?:of\s+)?{_YEAR}\b)?",
               lambda m, days=days: _holiday(r, m, days))
    # in May / since March / last December (a bare month needs a lead word: 'may' and 'march' are verbs)
    r.take(rf"\b({_MONTH_LEAD})\s+(?:the\s+month\s+of\s+)?({_FULL_MONTH})\b",
           lambda m: _bare_month(r, m.group(1), m.group(2)))
    # in 2024 / during 2023 / before 2020
    r.take(r"\b(in|during|since|before|after|until|till|of|from)\s+((?:19|20)\d\d)\b(?!\s*(?:%|[.:/-]\d))",
           lambda m: _bounded(m.group(1) if m.group(1) in ("since", "before", "after", "until", "till")
                              else None, (date(int(m.group(2)), 1, 1), date(int(m.group(2)) + 1, 1, 1))))
    _relative(r)
    r.found.sort(key=lambda f: f[0])
    spans = tuple(f[1] for f in r.found if f[1] is not None)
    yearless = tuple(day for f in r.found for day in f[2])
    return TimeQuery(spans=spans, yearless=yearless)


def _named_day(r: _Reader, lead, year, month_name, day):
    month = _MONTHS[month_name]
    if year:
        return _bounded(lead, _day(int(year), month, int(day)))
    d = int(day)
    if not 1 <= d <= 31:
        return None
    if lead:  # 'before March 3' without a year: the most recent such day
        year_guess = r.today.year if (month, d) <= (r.today.month, r.today.day) else r.today.year - 1
        return _bounded(lead, _day(year_guess, month, d))
    return None, ((month, d, d),)


def _holiday(r: _Reader, m, days):
    lead, year = m.group(1), m.group(2)
    if year:
        y = int(year)
        parts = [_day(y - 1 if (mo == 12 and len(days) > 1) else y, mo, a) for mo, a, _b in days]
        last = days[-1]
        last_day = _day(y, last[0], last[2])
        assert parts[0] is not None and last_day is not None  # fixed holiday dates always exist
        span = (parts[0][0], last_day[1])
        return _bounded(lead, span)
    if lead:
        mo, a, _b = days[0]
        y = r.today.year if (mo, a) <= (r.today.month, r.today.day) else r.today.year - 1
        first = _day(y, mo, a)
        assert first is not None  # fixed holiday dates always exist
        return _bounded(lead, (first[0], first[0] + timedelta(days=1)))
    return None, tuple(days)


def _bare_month(r: _Reader, lead: str, name: str):
    month = _MONTHS[name]
    if lead in ("last", "this"):
        year = r.today.year if month <= r.today.month else r.today.year - 1
        if lead == "last" and month == r.today.month:
            year -= 1
        return _month_span(year, month), ()
    if lead in ("before", "after", "since", "until", "till"):
        year = r.today.year if month <= r.today.month else r.today.year - 1
        return _bounded(lead, _month_span(year, month))
    return None, ((month, 1, 31),)  # clipped to the month's length per year


def _relative(r: _Reader) -> None:
    today = r.today
    day = timedelta(days=1)
    r.take_span(r"\b(today|tonight|this\s+(?:morning|afternoon|evening))\b", lambda m: (today, today + day))
    r.take_span(r"\bthe\s+day\s+before\s+yesterday\b", lambda m: (today - 2 * day, today - day))  # before 'yesterday'
    r.take_span(r"\b(yesterday|last\s+night)\b", lambda m: (today - day, today))
    r.take_span(r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten)\s+(day|week|month|year)s?\s+ago\b",
           lambda m: _ago(today, m.group(1), m.group(2)))
    r.take_span(r"\b(?:in\s+)?the\s+(?:last|past)\s+(\d+|two|three|four|five|six|seven|eight|nine|ten)\s+"
           r"(day|week|month|year)s\b(?!\s+of\b)",
           lambda m: (today - timedelta(days=_count(m.group(1)) * _UNIT_DAYS[m.group(2)]), today + day))
    # ... but 'the last day of school' names an event, not a span before today
    r.take_span(r"\b(?:in\s+)?the\s+(?:last|past)\s+(day|week|month|year)\b(?!\s+of\b)",
           lambda m: (today - timedelta(days=_UNIT_DAYS[m.group(1)]), today + day))
    r.take_span(r"\blast\s+week(?:end)?\b", lambda m: _week_of(today - timedelta(days=7)))
    r.take_span(r"\bthis\s+week\b", lambda m: _week_of(today))
    r.take_span(r"\blast\s+month\b", lambda m: _month_span(*((today.year, today.month - 1) if today.month > 1
                                                        else (today.year - 1, 12))))
    r.take_span(r"\bthis\s+month\b", lambda m: _month_span(today.year, today.month))
    r.take_span(r"\blast\s+year\b", lambda m: (date(today.year - 1, 1, 1), date(today.year, 1, 1)))
    r.take_span(r"\bthis\s+year\b", lambda m: (date(today.year, 1, 1), date(today.year + 1, 1, 1)))
    weekdays = "|".join(_WEEKDAYS)
    r.take_span(rf"\b(on|last|this|past)\s+({weekdays})\b",
                lambda m: _weekday(today, m.group(2), before_today=m.group(1) in ("last", "past")))


_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10}


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _WORD_NUMBERS[word]


def _ago(today: date, n: str, unit: str) -> Span:
    """'3 days ago' is that day; '2 weeks ago' that week; 'a month ago' that month; 'a year ago' that year."""
    k = _count(n)
    if unit == "day":
        d = today - timedelta(days=k)
        return d, d + timedelta(days=1)
    if unit == "week":
        return _week_of(today - timedelta(days=7 * k))
    if unit == "month":
        months = today.year * 12 + today.month - 1 - k
        return _month_span(months // 12, months % 12 + 1)
    return date(today.year - k, 1, 1), date(today.year - k + 1, 1, 1)


def _weekday(today: date, name: str, before_today: bool = False) -> Span:
    """The most recent such day ('on Friday' on a Friday is today; 'last Friday' then is a week ago): memories
    are about the past."""
    back = (today.weekday() - _WEEKDAYS.index(name)) % 7 or (7 if before_today else 0)
    d = today - timedelta(days=back)
    return d, d + timedelta(days=1)
