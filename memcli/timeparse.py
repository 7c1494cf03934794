"""Parsing and formatting of event times. Everything is stored as ISO-8601 UTC ('2024-03-01T10:00:00Z').

A naive time (no offset) inside stored input is UTC, so that the same transcript always yields the same stored
times whatever the machine's time zone; one a person types (--at, --since, --until, --expires: `local=True`) is
their local time (TZ), as they mean it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y, %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y, %H:%M",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
_RELATIVE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|y|sec|min|hours?|days?|weeks?|years?)\s*(ago)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400,
                 "day": 86400, "days": 86400, "w": 604800, "week": 604800, "weeks": 604800, "y": 31557600,
                 "year": 31557600, "years": 31557600}


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def to_iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    # not strftime: its %Y does not zero-pad years before 1000 on Linux ('500-06-01'), which breaks ISO ordering
    return f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"


def parse_time(value, *, now: datetime | None = None, local: bool = False) -> datetime:
    """ISO-8601, epoch seconds/milliseconds, common day-first formats, 'today'/'yesterday', '7d' (= 7 days ago).
    Anything it cannot read, or a time outside the calendar ('10000000d'), is a ValueError."""
    try:
        return _parse_time(value, now=now, local=local)
    except (OverflowError, OSError) as exc:
        raise ValueError(f"{str(value)[:40]!r} is outside the calendar ({exc})") from None


def _parse_time(value, *, now: datetime | None = None, local: bool = False) -> datetime:
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000.0
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    text = value.strip()
    if not text:
        raise ValueError("empty time")
    now = now or now_utc()
    lowered = text.lower()
    if lowered == "now":
        return now
    if lowered in ("today", "yesterday"):  # the user's day: local midnight (its own offset, across DST too)
        day = now.astimezone().date() - timedelta(days=1 if lowered == "yesterday" else 0)
        return datetime(day.year, day.month, day.day).astimezone().astimezone(timezone.utc)
    rel = _RELATIVE.match(text)
    if rel:
        return now - timedelta(seconds=int(rel.group(1)) * _UNIT_SECONDS[rel.group(2).lower()])
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return _parse_time(float(text), local=local)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        dt = None
        for fmt in _FORMATS:
            try:
                dt = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if dt is None:
            raise ValueError(f"unrecognised time {text!r} (use ISO-8601, e.g. 2024-03-01T10:00:00Z)") from None
    assert dt is not None  # set by fromisoformat or a format above, else raised (mypy loses that across try)
    if dt.tzinfo is None:
        # A time a person types without a zone (--at, --since) is their local time (TZ). One inside a stored
        # record stays UTC: the same transcript must be the same memories whatever the TZ of the day it is read.
        dt = dt.astimezone() if local else dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def iso_or_none(value) -> str | None:
    return None if value is None else to_iso(parse_time(value))


_AMBIGUOUS_M = re.compile(r"^\s*\d+\s*m\s*$", re.I)
_ENDS = ("until",)  # options that take the end of a named span ('--until last week': to the end of it)


def option_time(value: str | None, name: str, *, now: datetime | None = None) -> str | None:
    """A time given on the command line (or API) as ISO-8601 UTC; a bad one is the user's input error.

    Accepts what parse_time reads ('7d', 'yesterday', ISO-8601; a time without a zone is local) and the phrases
    recall's question reader knows ('last week', '2 months ago', 'in May', '3mo'): the span's start, or its end
    for --until. '2m' is refused as ambiguous (minutes or months?)."""
    if not value:
        return None
    from .errors import InputError

    if _AMBIGUOUS_M.match(value):
        n = value.strip()[:-1].strip()
        raise InputError(f"--{name}: {value!r} could be minutes or months; write {n}min or {n}mo")
    try:
        return to_iso(parse_time(value, now=now, local=True))
    except (ValueError, OverflowError) as exc:  # '99999999999d': before the calendar begins
        phrase = _phrase_bound(value, now or now_utc(), end=name in _ENDS)
        if phrase is not None:
            return phrase
        raise InputError(f"--{name}: {value!r} is not a time memcli can use ({exc})") from None


def _phrase_bound(value: str, now: datetime, *, end: bool) -> str | None:
    """The start (or end) of the span a phrase such as 'last week' or '3 months ago' names, or None."""
    from .retrieval.time_query import parse_time_query

    text = re.sub(r"^\s*(\d+)\s*mo\s*$", r"\1 months ago", value, flags=re.I)
    text = re.sub(r"^\s*(\d+)\s*(months?|weeks?|years?|days?)\s*$", r"\1 \2 ago", text, flags=re.I)
    tq = parse_time_query(text, now.astimezone())
    stamp = to_iso(now)
    # the most recent span the phrase can name ('in May' in December: this year's May)
    spans = [(a, b) for a, b in tq.iso_spans(now.year - 1, now.year) if a and a <= stamp]
    if not spans:
        return None
    start, stop = max(spans)
    return stop if end else start


def future_time(value: str, *, now: datetime | None = None) -> datetime:
    """When something ends: a duration from now ('7d', '12h', '2w') or a time after now (ISO-8601)."""
    now = now or now_utc()
    text = (value or "").strip()
    rel = _RELATIVE.match(text)
    try:
        when = now + timedelta(seconds=int(rel.group(1)) * _UNIT_SECONDS[rel.group(2).lower()]) if rel \
            else parse_time(text, now=now, local=True)
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is outside the calendar") from None
    if when <= now:
        raise ValueError(f"{text[:40]!r} is not in the future")
    return when
